"""What a load process counts: completed operations with their latencies, and every
failure by kind (a failed request is reported, never dropped from the figures)."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter

from bench.common import Measurement, percentile

RESULT_PREFIX = "RESULT "


class Tally:
    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.items = 0
        self.errors: Counter[str] = Counter()
        self.started = time.perf_counter()

    def ok(self, started: float, items: int = 1) -> None:
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        self.items += items

    def fail(self, exc: BaseException | str) -> None:
        self.errors[exc if isinstance(exc, str) else type(exc).__name__ + (f": {exc}" if str(exc) else "")] += 1

    def measurement(self, elapsed: float | None = None) -> Measurement:
        elapsed = elapsed if elapsed is not None else time.perf_counter() - self.started
        lat = sorted(self.latencies_ms)
        extra = {"error_kinds": dict(self.errors.most_common(5))} if self.errors else {}
        return Measurement(self.items / elapsed if elapsed > 0 else 0.0, percentile(lat, 0.5), percentile(lat, 0.99),
                           self.items, sum(self.errors.values()), {"seconds": round(elapsed, 2), **extra})


def emit(result: dict, prefix: str = RESULT_PREFIX) -> None:
    """One JSON line on stdout, which the scenario reads (bench/load/proc.py)."""
    sys.stdout.write(prefix + json.dumps(result) + "\n")
    sys.stdout.flush()
