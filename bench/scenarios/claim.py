"""Customer claim round trips against HTTP provisioning of the same batch of devices.

One hub, one batch of N devices, three phases with the same client
(bench/load/http_batch.py): provision the N devices over HTTP (the baseline), let each
post its claim secret (device side, reported alongside), then a customer user claims
all N (the figure). Both figures are the hub's own, so the ratio says what a claim
costs next to a provisioning."""

from __future__ import annotations

import json
import tempfile
import urllib.request
from pathlib import Path

from bench.common import hub
from bench.load.proc import run_load
from bench.rows import compare
from bench.seed_db import cli, init_data_dir

LOAD = "bench.load.http_batch"
CUSTOMER_EMAIL, CUSTOMER_PASSWORD = "customer@bench.local", "bench-customer-1"
CONCURRENCY = 32


def login(base: str, email: str, password: str) -> str:
    request = urllib.request.Request(f"{base}/api/auth/login", method="POST",
                                     data=json.dumps({"username": email, "password": password}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["token"]


def run(seconds: float, quick: bool = False) -> dict:
    count = 300 if quick else 3000
    with tempfile.TemporaryDirectory(prefix="gridlinks-bench-") as tmp:
        data_dir = Path(tmp)
        init_data_dir(data_dir)
        cli(data_dir, "user", "add", "--email", CUSTOMER_EMAIL, "--password", CUSTOMER_PASSWORD,
            "--role", "customer-user", "--customer", "Bench customer")
        with hub(data_dir=data_dir) as h:
            jwt = login(h.http, CUSTOMER_EMAIL, CUSTOMER_PASSWORD)
            common = ["--port", h.ports["http"], "--concurrency", CONCURRENCY]
            run_load(LOAD, ["provision", *common, "--count", 200, "--prefix", "warm", "--key", h.key,
                            "--secret", h.secret], 120)

            def phase(kind: str, *extra: str) -> dict:
                return run_load(LOAD, [kind, *common, "--count", count, "--prefix", "batch", *extra], 600)

            provisioned = phase("provision", "--key", h.key, "--secret", h.secret)
            claim_info = phase("claim-info")
            claimed = phase("claim", "--jwt", jwt)
    return compare("Customer claim round trip", "claims/s", claimed, provisioned,
                   "HTTP provisioning of the same batch (same hub, same client)",
                   notes=[f"batch of {count} devices, {CONCURRENCY} keep-alive connections; device-side claim info "
                          f"(POST /api/v1/{{token}}/claim) ran at {claim_info['rate']} requests/s, "
                          f"p50 {claim_info['p50_ms']} ms, {claim_info['errors']} errors"],
                   claim_info=claim_info)
