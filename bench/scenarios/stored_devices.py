"""HTTP provisioning with 1M devices already stored against the same with 1k stored.

Both databases are made by ``gridlinks init`` and filled with plain sqlite3 (device,
access token, provisionState for each: bench/seed_db.py) before the hub starts on them;
then the same wrk load as the HTTP provisioning scenario runs against each."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import hub
from bench.load import wrk
from bench.rows import compare
from bench.seed_db import init_data_dir, seed_devices

SMALL = 1_000


def _provision_rate(stored: int, seconds: float, warm: bool) -> tuple[dict, float]:
    with tempfile.TemporaryDirectory(prefix="gridlinks-bench-") as tmp:
        fill_s = seed_devices(init_data_dir(Path(tmp)), stored)
        with hub(data_dir=Path(tmp)) as h:
            env = {"PKEY": h.key, "PSECRET": h.secret}
            if warm:
                wrk.run(h.http, "provision.lua", 1, env={**env, "PREFIX": "warm"})
            return wrk.run(h.http, "provision.lua", seconds, env=env).to_json(), fill_s


def run(seconds: float, quick: bool = False) -> dict:
    large = 20_000 if quick else 1_000_000
    wrk.require_wrk()
    small_figure, _ = _provision_rate(SMALL, seconds, warm=not quick)
    large_figure, fill_s = _provision_rate(large, seconds, warm=not quick)
    label = f"{large // 1_000_000}M" if large >= 1_000_000 else f"{large // 1000}k"
    return compare(f"HTTP provisioning with {label} devices stored", "provisions/s", large_figure, small_figure,
                   f"the same with {SMALL // 1000}k devices stored", target=0.9,
                   notes=[f"{large} devices (with tokens and provisionState) written by plain sqlite3 in "
                          f"{fill_s:.1f} s before the hub started"])
