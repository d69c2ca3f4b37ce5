"""Runs wrk (Debian's package) against a URL with a Lua script and reads its figures."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from bench.common import LOAD_CPU, Measurement, pinned

HERE = Path(__file__).resolve().parent


def require_wrk() -> str:
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk is not installed: `apt-get install -y wrk` (make bench does this)")
    return path


def run(url: str, script: str, seconds: float, connections: int = 32, env: dict[str, str] | None = None) -> Measurement:
    cmd = pinned([require_wrk(), "-t1", f"-c{connections}", f"-d{max(1, int(seconds))}s", "--latency",
                  "-s", str(HERE / script), url], LOAD_CPU)
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})},
                         timeout=seconds + 60, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    count = int(re.search(r"(\d+) requests in", out).group(1))
    errors = 0
    extra = re.search(r"GRIDLINKS failed=(\d+) p50_us=(\d+) p99_us=(\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(x) for x in socket_errors.groups())
    if extra:
        errors += int(extra.group(1))
        return Measurement(rate, int(extra.group(2)) / 1000, int(extra.group(3)) / 1000, count, errors)
    return Measurement(rate, None, None, count, errors)
