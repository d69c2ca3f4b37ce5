"""Customer claim round trips against HTTP provisioning of the same batch of devices.

One hub, one batch of N devices, three phases with the same client
(bench/load/http_batch.py): provision the N devices over HTTP (the baseline), let each
post its claim secret (device side, reported alongside), then a customer user claims
all N (the figure). Both figures are the hub's own, so the ratio says what a claim
costs next to a provisioning."""

from __future__ import annotations

from bench.common import hub
from bench.load.proc import run_load
from bench.rest import add_customer_user, admin_login, login
from bench.rows import compare

LOAD = "bench.load.http_batch"
CUSTOMER_PASSWORD = "bench-customer-1"
CONCURRENCY = 32
# Customer users claiming at once, each on CONCURRENCY / USERS connections: the claim limiter counts a
# caller's attempts before comparing secrets (core/services/claim_limits.py), so one user with more than
# claim.max_failed_attempts (5) claims in flight is locked out as a guessing burst, by design.
USERS = 8


def run(seconds: float, quick: bool = False) -> dict:
    count = 300 if quick else 3000
    with hub() as h:
        admin = admin_login(h.http, h.admin_email, h.admin_password)
        jwts = []
        for n in range(USERS):
            email = f"customer{n}@bench.local"
            add_customer_user(h.http, admin, f"Bench customer {n}", email, CUSTOMER_PASSWORD)
            jwts.append(login(h.http, email, CUSTOMER_PASSWORD))
        common = ["--port", h.ports["http"], "--concurrency", CONCURRENCY]

        def phase(kind: str, n: int, prefix: str, *extra: str) -> dict:
            return run_load(LOAD, [kind, *common, "--count", n, "--prefix", prefix, *extra], 600)

        if not quick:
            phase("provision", 200, "warm", "--key", h.key, "--secret", h.secret)
        provisioned = phase("provision", count, "batch", "--key", h.key, "--secret", h.secret)
        claim_info = phase("claim-info", count, "batch")
        claimed = phase("claim", count, "batch", "--jwt", ",".join(jwts))
    return compare("Customer claim round trip", "claims/s", claimed, provisioned,
                   "HTTP provisioning of the same batch (same hub, same client)", target=0.35,
                   notes=[f"batch of {count} devices, {CONCURRENCY} keep-alive connections ({USERS} customer users "
                          f"claiming, {CONCURRENCY // USERS} connections each); device-side claim info "
                          f"(POST /api/v1/{{token}}/claim) ran at {claim_info['rate']} requests/s, "
                          f"p50 {claim_info['p50_ms']} ms, {claim_info['errors']} errors"],
                   claim_info=claim_info)
