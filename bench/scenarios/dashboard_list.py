"""The dashboard's device list with 100k devices stored (bench/dashboard_list.py, which
times GET /ui/devices over loopback), run in its own process on the server core and
reported against the issue's bound: a page under 200 ms."""

from __future__ import annotations

import sys

from bench.common import SERVER_CPU, Measurement, pinned
from bench.load.proc import run_command
from bench.load.tally import RESULT_PREFIX
from bench.rows import absolute

LIMIT_MS = 200
CODE = ("import asyncio, json; from bench.dashboard_list import main; "
        "print({prefix!r} + json.dumps(asyncio.run(main({devices}, {repeat}))))")


def _row(name: str, timing: dict, devices: int, repeat: int) -> dict:
    figure = Measurement(timing["median_ms"], timing["median_ms"], None, repeat, 0,
                         {"p95_ms": timing["p95_ms"], "max_ms": timing["max_ms"]}).to_json()
    return absolute(f"Dashboard device list, {name} ({devices // 1000}k devices)", "ms", figure, at_most=LIMIT_MS,
                    notes=[f"median of {repeat} loads of the full HTML page; p95 {timing['p95_ms']} ms"])


def run(seconds: float, quick: bool = False) -> list[dict]:
    devices, repeat = (10_000, 5) if quick else (100_000, 20)
    code = CODE.format(prefix=RESULT_PREFIX, devices=devices, repeat=repeat)
    report = run_command(pinned([sys.executable, "-c", code], SERVER_CPU), 900)
    timings = report["timings"]
    slowest = max(timings, key=lambda name: timings[name]["median_ms"])
    rows = [_row("first page", timings["first page"], devices, repeat)]
    if slowest != "first page":
        rows.append(_row(f"slowest view: {slowest}", timings[slowest], devices, repeat))
    return rows
