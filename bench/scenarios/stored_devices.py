"""HTTP provisioning with 1M devices already stored against the same with 1k stored, on
SQLite (the target) and on PostgreSQL (reported).

SQLite: both databases are made by ``gridlinks init`` and filled with plain sqlite3
(device, access token, provisionState for each: bench/seed_db.py) once; each round copies
each of them afresh (so every measurement starts from the same 1k or 1M devices), flushes
the copy to disk, starts a hub on it and runs the same wrk load as the HTTP provisioning scenario. The rounds
alternate which size goes first (small, large; large, small; ...), so a drift in the
machine's load (it is shared) falls on both sides alike, and the row compares the median
rate of each side. One 10 s load per side moved the ratio between 0.65 and 0.79; on a busy
machine single rounds still range widely (0.63-1.2 in one run), so each row also gives the
hub's CPU time per provisioning on each side (its median ratio: the rate ratio the hub
would reach with its core to itself), which others' work hardly moves.

PostgreSQL: two fresh databases on ``GRIDLINKS_BENCH_PG`` (default
postgres://postgres@127.0.0.1:5432/postgres), schema by ``gridlinks init``, filled by
binary COPY (bench/seed_db.py), measured in the same alternating rounds (not copied
afresh: each round adds a few thousand devices to millions or a thousand, the same on
both sides) and dropped afterwards. The hub runs pinned as on SQLite; PostgreSQL's
backends run unpinned (in practice on the load core, beside wrk)."""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.common import VENV_BIN, HubProcess, _start, hub, stop
from bench.load import wrk
from bench.rows import compare, skipped
from bench.scenarios.scaleout_provisioning import CLK_TCK, _by_name, _ticks, _used
from bench.seed_db import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    PROVISION_KEY,
    PROVISION_SECRET,
    init_data_dir,
    seed_devices,
    seed_devices_pg,
)

SMALL = 1_000
ROUNDS, QUICK_ROUNDS = 3, 1


def _label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


def _load(h, seconds: float, warm: bool, prefix: str, postgres: bool = False) -> dict:
    """The wrk figures, and the CPU the hub process used per provisioning meanwhile (both
    its threads: event loop and SQLite). Unlike the rate, that barely moves when others'
    work takes the hub's core for a while, so it says whether a gap is the hub's own.
    ``postgres``: also the CPU of every PostgreSQL process per provisioning (others' use of
    the server included, if any)."""
    env = {"PKEY": h.key, "PSECRET": h.secret}
    if warm:
        wrk.run(h.http, "provision.lua", 1, env={**env, "PREFIX": f"warm{prefix}"})
    ticks, pg = _ticks(h.proc.pid), _by_name("postgres") if postgres else {}
    figure = wrk.run(h.http, "provision.lua", seconds, env={**env, "PREFIX": prefix}).to_json()
    count = max(1, figure["count"])
    figure["hub_cpu_ms_per_provision"] = round((_ticks(h.proc.pid) - ticks) / CLK_TCK * 1000 / count, 3)
    if postgres:
        used = sum(_used(pg, _by_name("postgres")).values())
        figure["postgresql_cpu_ms_per_provision"] = round(used / CLK_TCK * 1000 / count, 3)
    return figure


def _rounds(sizes: tuple[int, int], rounds: int, measure: Callable[[int, int], dict]) -> dict[int, list[dict]]:
    """``measure(size, round)`` for both sizes in each round, the order alternating."""
    runs: dict[int, list[dict]] = {n: [] for n in sizes}
    for r in range(rounds):
        for n in (sizes if r % 2 == 0 else sizes[::-1]):
            runs[n].append(measure(n, r))
    return runs


def _median_cpu(runs: list[dict], key: str = "hub_cpu_ms_per_provision") -> float:
    return statistics.median(m[key] for m in runs)


def _median(runs: list[dict]) -> dict:
    """The run with the median rate (the lower middle one for an even count), with every
    run's rate alongside."""
    ordered = sorted(runs, key=lambda m: m["rate"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["rounds"] = [m["rate"] for m in runs]
    chosen["errors"] = sum(m.get("errors", 0) for m in runs)
    return chosen


def _row(engine: str, large: int, runs: dict[int, list[dict]], target: float | None, notes: list[str]) -> dict:
    small_fig, large_fig = _median(runs[SMALL]), _median(runs[large])
    pairs = list(zip(runs[large], runs[SMALL]))
    rates = " / ".join(f"{a['rate']:,.0f} vs {b['rate']:,.0f}" for a, b in pairs)
    per_round = [round(a["rate"] / b["rate"], 2) for a, b in pairs if b["rate"]]
    cpu_small, cpu_large = _median_cpu(runs[SMALL]), _median_cpu(runs[large])
    return compare(f"HTTP provisioning with {_label(large)} devices stored{engine}", "provisions/s", large_fig,
                   small_fig, f"the same with {_label(SMALL)} devices stored", target=target,
                   notes=[f"median of {len(pairs)} alternating rounds per side ({rates} provisions/s; ratio per "
                          f"round {per_round})",
                          f"hub CPU per provisioning (median): {cpu_large:.2f} ms with {_label(large)} stored, "
                          f"{cpu_small:.2f} ms with {_label(SMALL)} (CPU-bound rate ratio {cpu_small / cpu_large:.2f})",
                          *_postgres_cpu(runs, large), *notes], cpu_ratio=round(cpu_small / cpu_large, 3))


def _postgres_cpu(runs: dict[int, list[dict]], large: int) -> list[str]:
    if "postgresql_cpu_ms_per_provision" not in runs[large][0]:
        return []
    pg_small, pg_large = (_median_cpu(runs[n], "postgresql_cpu_ms_per_provision") for n in (SMALL, large))
    return [f"PostgreSQL CPU per provisioning (median, all its processes): {pg_large:.2f} ms with {_label(large)} "
            f"stored, {pg_small:.2f} ms with {_label(SMALL)}"]


def _sync(directory: Path) -> None:
    """Flush a fresh copy to disk before the hub starts on it: otherwise the kernel writes
    the copy's dirty pages (790 MB for 1M devices) back during the measurement, and the
    hub's first checkpoint fsync waits for all of them (the 1M side alone pays that)."""
    for path in directory.iterdir():
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _sqlite(large: int, seconds: float, rounds: int, warm: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="gridlinks-bench-stored-") as tmp:
        root = Path(tmp)
        fill_s = {}
        for n in (SMALL, large):
            fill_s[n] = seed_devices(init_data_dir(root / f"seed-{n}"), n)

        def measure(n: int, r: int) -> dict:
            work = root / f"run-{n}-{r}"
            shutil.copytree(root / f"seed-{n}", work)
            _sync(work)
            try:
                with hub(data_dir=work) as h:
                    return _load(h, seconds, warm, f"r{r}")
            finally:
                shutil.rmtree(work, ignore_errors=True)

        runs = _rounds((SMALL, large), rounds, measure)
    return _row("", large, runs, 0.9,
                [f"{large:,} devices (with tokens and provisionState) written by plain sqlite3 in "
                 f"{fill_s[large]:.1f} s; each round's hub starts on a fresh copy of the seeded database"])


def _postgres(large: int, seconds: float, rounds: int, warm: bool) -> dict:
    from bench.scenarios.scaleout_provisioning import _database, _init

    with _database() as small_url, _database() as large_url, \
            tempfile.TemporaryDirectory(prefix="gridlinks-bench-stored-pg-") as tmp:
        root = Path(tmp)
        urls = {SMALL: small_url, large: large_url}
        fill_s = {}
        for n, url in urls.items():
            (root / str(n)).mkdir()
            _init(root / str(n), url)
            fill_s[n] = seed_devices_pg(url, n)

        def measure(n: int, r: int) -> dict:
            env = {"GRIDLINKS_DB_URL": urls[n]}  # one node: no Redis
            data_dir = root / str(n)
            proc, ports = _start(VENV_BIN / "gridlinks", data_dir, env, None, data_dir / "hub.log")
            try:
                h = HubProcess(proc, data_dir, ports, PROVISION_KEY, PROVISION_SECRET, ADMIN_PASSWORD,
                               data_dir / "hub.log", ADMIN_EMAIL)
                return _load(h, seconds, warm, f"r{r}", postgres=True)
            finally:
                stop(proc)

        runs = _rounds((SMALL, large), rounds, measure)
    return _row(" (PostgreSQL)", large, runs, None,
                [f"{large:,} devices written by binary COPY in {fill_s[large]:.1f} s (then VACUUM ANALYZE) into a "
                 "fresh database on the local PostgreSQL, dropped afterwards; reported, no target (issue 18)"])


def run(seconds: float, quick: bool = False) -> list[dict]:
    large = 20_000 if quick else 1_000_000
    rounds = QUICK_ROUNDS if quick else ROUNDS
    wrk.require_wrk()
    rows = [_sqlite(large, seconds, rounds, warm=True)]
    try:
        rows.append(_postgres(large, seconds, rounds, warm=True))
    except SystemExit as exc:  # no PostgreSQL here: the SQLite row stands
        rows.append(skipped(f"HTTP provisioning with {_label(large)} devices stored (PostgreSQL)", str(exc)))
    return rows
