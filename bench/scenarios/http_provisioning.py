"""HTTP provisioning of new devices (server-generated token) against a bare aiohttp
handler that parses and answers the same JSON."""

from __future__ import annotations

from pathlib import Path

from bench.common import free_port, hub, python_server, wait_http
from bench.load import wrk

BASELINES = Path(__file__).resolve().parent.parent / "baselines"


def run(seconds: float) -> dict:
    port = free_port()
    with python_server(BASELINES / "bare_http.py", str(port)) as proc:
        wait_http(f"http://127.0.0.1:{port}/api/health", proc)
        wrk.run(f"http://127.0.0.1:{port}", "provision.lua", 1, env={"PKEY": "k", "PSECRET": "s"})  # warm-up
        baseline = wrk.run(f"http://127.0.0.1:{port}", "provision.lua", seconds, env={"PKEY": "k", "PSECRET": "s"})
    with hub() as h:
        env = {"PKEY": h.key, "PSECRET": h.secret}
        wrk.run(h.http, "provision.lua", 1, env={**env, "PREFIX": "warm"})
        measured = wrk.run(h.http, "provision.lua", seconds, env=env)
    return {"scenario": "HTTP provisioning, new devices, server-generated token",
            "unit": "provisions/s", "hub": measured.to_json(), "baseline": baseline.to_json(),
            "baseline_name": "bare aiohttp handler (parse + same JSON reply)",
            "ratio": round(measured.rate / baseline.rate, 3) if baseline.rate else None, "target": 0.5}
