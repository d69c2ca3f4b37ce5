"""HTTP provisioning of new devices (server-generated token) against a bare aiohttp
handler that parses and answers the same JSON, and, as a reference row, against the
same bare handler storing the rows a provisioning stores (bare_http_sqlite.py): the
floor aiohttp and SQLite set together on one core, with no rules, plugins or events."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import free_port, hub, python_server, wait_http
from bench.load import wrk
from bench.rows import compare
from bench.seed_db import init_data_dir

BASELINES = Path(__file__).resolve().parent.parent / "baselines"
BARE_ENV = {"PKEY": "k", "PSECRET": "s"}


def _bare(script: str, seconds: float, *args: str) -> dict:
    port = free_port()
    with python_server(BASELINES / script, str(port), *args) as proc:
        wait_http(f"http://127.0.0.1:{port}/api/health", proc)
        wrk.run(f"http://127.0.0.1:{port}", "provision.lua", 1, env={**BARE_ENV, "PREFIX": "warm"})
        return wrk.run(f"http://127.0.0.1:{port}", "provision.lua", seconds, env=BARE_ENV).to_json()


def run(seconds: float) -> list[dict]:
    baseline = _bare("bare_http.py", seconds)
    with tempfile.TemporaryDirectory(prefix="gridlinks-bench-") as tmp:
        storing = _bare("bare_http_sqlite.py", seconds, str(init_data_dir(Path(tmp))))
    with hub() as h:
        env = {"PKEY": h.key, "PSECRET": h.secret}
        wrk.run(h.http, "provision.lua", 1, env={**env, "PREFIX": "warm"})
        measured = wrk.run(h.http, "provision.lua", seconds, env=env).to_json()
    scenario = "HTTP provisioning, new devices, server-generated token"
    return [
        compare(scenario, "provisions/s", measured, baseline, "bare aiohttp handler (parse + same JSON reply)",
                target=0.5),
        compare(f"{scenario} vs a bare handler that stores the same rows (reference, not a target)", "provisions/s",
                measured, storing, "bare aiohttp handler + the same four rows committed by SQLite group commit",
                notes=["what aiohttp and SQLite alone cost on the server core: the hub's rules, plugins, events and "
                       "audit are the difference; its ratio to the bare handler is the ceiling for the row above"],
                ceiling=round(storing["rate"] / baseline["rate"], 3) if baseline.get("rate") else None),
    ]
