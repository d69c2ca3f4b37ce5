"""Bulk CSV import of 100k devices (``POST /api/device/bulk_import``: name and access
token per line) against plain sqlite3 ``executemany`` of the same rows.

The hub's figure is devices per second over the whole request, as the admin waits for
it; the baseline runs on the server core in its own process on a fresh database. With
``BENCH_BEFORE_GRIDLINKS`` set, an earlier installation's hub imports the same file in the
same run (a second row, against the same baseline)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import SERVER_CPU, Measurement, before_gridlinks, hub, installation
from bench.load.proc import run_load
from bench.rest import admin_login, post_json
from bench.rows import compare
from bench.seed_db import init_data_dir

PREFIX, TOKEN_PREFIX = "bulk-", "bulktok"


def csv_text(count: int) -> str:
    return "".join(f"{PREFIX}{i:07d},{TOKEN_PREFIX}{i:07d}\n" for i in range(count))


def import_csv(base: str, jwt: str, text: str) -> tuple[float, dict]:
    body = {"file": text, "mapping": {"columns": [{"type": "NAME"}, {"type": "ACCESS_TOKEN"}], "header": False}}
    started = time.perf_counter()
    result = post_json(base, "/api/device/bulk_import", body, jwt, timeout=900)
    return time.perf_counter() - started, result


def _hub_import(count: int, gridlinks=None) -> dict:
    with hub(gridlinks=gridlinks) as h:
        jwt = admin_login(h.http, h.admin_email, h.admin_password)
        elapsed, result = import_csv(h.http, jwt, csv_text(count))
    errors = result.get("errors", 0) + max(0, count - result.get("created", 0) - result.get("updated", 0))
    measured = Measurement(count / elapsed, None, None, result.get("created", 0), errors,
                           {"seconds": round(elapsed, 2)}).to_json()
    if result.get("errorsList"):
        measured["error_kinds"] = {line: 1 for line in result["errorsList"][:5]}
    return measured


def run(seconds: float, quick: bool = False) -> dict | list[dict]:
    count = 5_000 if quick else 100_000
    with tempfile.TemporaryDirectory(prefix="gridlinks-bench-") as tmp:
        init_data_dir(Path(tmp))
        baseline = run_load("bench.baselines.raw_sqlite", [tmp, count, PREFIX, TOKEN_PREFIX], 600, cpu=SERVER_CPU)
    scenario = f"Bulk CSV import of {count // 1000}k devices"
    row = compare(scenario, "devices/s", _hub_import(count), baseline,
                  "plain sqlite3 executemany of the same rows, one transaction", target=0.5,
                  notes=["one REST request with the whole CSV (name, access token); the import commits lines in "
                         "chunks, each line atomic on its own"])
    earlier = before_gridlinks()
    if earlier is None:
        return row
    return [row, compare(f"{scenario}, {installation(earlier)}", "devices/s", _hub_import(count, earlier), baseline,
                         "plain sqlite3 executemany of the same rows, one transaction",
                         notes=["an earlier installation's hub (BENCH_BEFORE_GRIDLINKS) importing the same file in "
                                "this run, against the same baseline"])]
