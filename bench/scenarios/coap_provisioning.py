"""CoAP provisioning of new devices against a bare aiocoap resource that parses and
answers the same JSON, both driven by the same raw-UDP client (bench/load/coap_load.py)."""

from __future__ import annotations

import socket
from pathlib import Path

from bench.common import free_port, hub, python_server
from bench.load.proc import run_load
from bench.rows import compare

BASELINES = Path(__file__).resolve().parent.parent / "baselines"
LOAD = "bench.load.coap_load"
CONCURRENCY = 16


def _provision(port: int, seconds: float, key: str, secret: str, prefix: str, warm: bool) -> dict:
    args = ["--port", port, "--key", key, "--secret", secret, "--concurrency", CONCURRENCY]
    if warm:
        run_load(LOAD, [*args, "--seconds", 1, "--prefix", f"{prefix}w"], 60)
    return run_load(LOAD, [*args, "--seconds", seconds, "--prefix", prefix], seconds + 90)


def run(seconds: float, quick: bool = False) -> dict:
    port = free_port(socket.SOCK_DGRAM)
    with python_server(BASELINES / "bare_coap.py", str(port)):
        baseline = _provision(port, seconds, "k", "s", "b", warm=not quick)
    with hub() as h:
        measured = _provision(h.ports["coap"], seconds, h.key, h.secret, "c", warm=not quick)
    return compare("CoAP provisioning, new devices", "provisions/s", measured, baseline,
                   "bare aiocoap 0.4 resource (parse + same JSON reply, 2.01)", target=0.6,
                   notes=[f"raw UDP client, {CONCURRENCY} confirmable requests in flight"])
