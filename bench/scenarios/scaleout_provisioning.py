"""HTTP provisioning on PostgreSQL with one hub node and with two (issue 14), in the same
run on the same machine: new devices with server-generated tokens, as in
``http_provisioning``, but every node on one PostgreSQL database and one Redis
(``cluster_redis`` on, as a real cluster runs). The load is spread by the client: one wrk
per node, half the connections each, their rates summed.

Three measurements: one node on the server core; two nodes sharing that core (the same
CPU budget: what the cluster machinery costs); two nodes on a core each (the second core
is also the load generator's and PostgreSQL's, as a 2-core machine has no other). The CPU
each process used during each measurement (hub nodes, PostgreSQL backends, Redis, the
whole machine) is read from /proc and node A is sampled by py-spy (when installed), so the
row says where the time went."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.common import LOAD_CPU, SERVER_CPU, VENV_BIN, Measurement, _start, free_port, hub_env, stop
from bench.load import wrk
from bench.rows import absolute, compare
from bench.seed_db import ADMIN_EMAIL, ADMIN_PASSWORD, PROFILE, PROVISION_KEY, PROVISION_SECRET

PG_DSN = os.environ.get("GRIDLINKS_BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("GRIDLINKS_BENCH_REDIS", "redis://127.0.0.1:6379/0")
CONNECTIONS = 32
CLK_TCK = os.sysconf("SC_CLK_TCK")
SPY_RATE = 50  # py-spy samples per second


def _plugins() -> str:
    from gridlinks.core.config import DEFAULT_PLUGINS

    return ",".join([*DEFAULT_PLUGINS, "cluster_redis"])


async def _admin_sql(sql: str) -> None:
    import asyncpg

    conn = await asyncio.wait_for(asyncpg.connect(PG_DSN), 5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _redis_answers() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except Exception:
        return False


@contextmanager
def _database():
    """A fresh PostgreSQL database for this run, dropped afterwards; its URL."""
    name = f"gridlinks_bench_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_admin_sql(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        raise SystemExit(f"PostgreSQL not reachable at {PG_DSN}: {exc}") from None
    try:
        yield f"{PG_DSN.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _env(db_url: str) -> dict[str, str]:
    return {"GRIDLINKS_DB_URL": db_url, "GRIDLINKS_REDIS_URL": REDIS_URL, "GRIDLINKS_PLUGINS": _plugins()}


def _init(data_dir: Path, db_url: str) -> None:
    """``gridlinks init`` and the bench profile, into the PostgreSQL database."""
    ports = {"http": free_port(), "mqtt": free_port(), "mqtts": free_port(), "coap": free_port()}
    for args in (["init", "--admin-email", ADMIN_EMAIL, "--admin-password", ADMIN_PASSWORD],
                 ["profile", "create", "--name", PROFILE, "--strategy", "allow-create", "--key", PROVISION_KEY,
                  "--secret", PROVISION_SECRET]):
        done = subprocess.run([str(VENV_BIN / "gridlinks"), *args], env=hub_env(ports, data_dir, _env(db_url)),
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"gridlinks {args[0]} failed: {done.stderr.strip()[-500:]}")


def _ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def _by_name(*names: str) -> dict[int, tuple[str, int]]:
    """pid -> (command, CPU ticks so far) of every process whose command is one of
    ``names`` (PostgreSQL's backends, Redis)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                comm = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if comm in names:
                out[int(entry.name)] = (comm, _ticks(int(entry.name)))
    return out


def _used(before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]]) -> dict[str, int]:
    """Ticks used between two snapshots per command (a process started meanwhile counts
    whole; one that ended meanwhile is not counted)."""
    out: dict[str, int] = {}
    for pid, (comm, ticks) in after.items():
        out[comm] = out.get(comm, 0) + ticks - before.get(pid, (comm, 0))[1]
    return out


@contextmanager
def _profile(pid: int, seconds: float, out: dict):
    """py-spy (when installed) samples the node while it runs on CPU; ``out`` gets the share
    of those samples per innermost function and how often the node was on CPU at all."""
    spy = shutil.which("py-spy") or str(VENV_BIN / "py-spy")
    if not Path(spy).exists():
        yield
        return
    raw = Path(tempfile.mkstemp(suffix=".txt")[1])
    proc = subprocess.Popen([spy, "record", "--pid", str(pid), "--nonblocking", "--format", "raw",
                             "--duration", str(max(1, int(seconds))), "--rate", str(SPY_RATE), "--output", str(raw)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        try:
            proc.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
        out.update(_leaves(raw.read_text() if raw.exists() else "", max(1, int(seconds)) * SPY_RATE))
        raw.unlink(missing_ok=True)


def _leaves(collapsed: str, possible: int, top: int = 6) -> dict[str, float]:
    """``on_cpu``: the share of sampling instants the node was running Python; then the
    share of those samples by innermost frame ("function (file)"), the largest ``top``."""
    counts: dict[str, int] = {}
    for line in collapsed.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        leaf = stack.split(";")[-1]
        name, _, where = leaf.partition(" (")
        short = f"{name} ({where.split(':')[0].rsplit('/', 1)[-1]}" + (")" if where else "")
        counts[short] = counts.get(short, 0) + int(n)
    total = sum(counts.values()) or 1
    return {"on_cpu": round(min(1.0, sum(counts.values()) / possible), 3),
            **{k: round(v / total, 3) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])[:top]}}


def _measure(urls: list[str], seconds: float, nodes: list[subprocess.Popen], prefix: str) -> Measurement:
    """One wrk per node, concurrently; the summed rate, the worst p50/p99, and the cores
    each process used meanwhile."""
    env = {"PKEY": PROVISION_KEY, "PSECRET": PROVISION_SECRET}
    per = max(1, CONNECTIONS // len(urls))
    with ThreadPoolExecutor(len(urls)) as pool:  # warm-up: connections, profile cache, JIT of the plans
        list(pool.map(lambda i: wrk.run(urls[i], "provision.lua", 1, per, {**env, "PREFIX": f"warm{prefix}{i}"}),
                      range(len(urls))))
    before_nodes = [_ticks(p.pid) for p in nodes]
    before = _by_name("postgres", "redis-server")
    machine0, started = _machine_ticks(), time.monotonic()
    samples: dict[str, float] = {}
    with _profile(nodes[0].pid, seconds, samples), ThreadPoolExecutor(len(urls)) as pool:
        parts = list(pool.map(lambda i: wrk.run(urls[i], "provision.lua", seconds, per,
                                                {**env, "PREFIX": f"{prefix}{i}"}), range(len(urls))))
    after_nodes = [_ticks(p.pid) for p in nodes]
    used = _used(before, _by_name("postgres", "redis-server"))
    machine1, wall = _machine_ticks(), time.monotonic() - started
    cores = {f"node_{chr(ord('a') + i)}": round((b - a) / CLK_TCK / wall, 2)
             for i, (a, b) in enumerate(zip(before_nodes, after_nodes))}
    cores.update({("postgresql" if k == "postgres" else k): round(v / CLK_TCK / wall, 2) for k, v in used.items()})
    cores["whole_machine"] = round((machine1 - machine0) / CLK_TCK / wall, 2)
    return Measurement(sum(m.rate for m in parts), max((m.p50_ms or 0) for m in parts),
                       max((m.p99_ms or 0) for m in parts), sum(m.count for m in parts),
                       sum(m.errors for m in parts),
                       extra={"per_node": [round(m.rate, 1) for m in parts], "cores_used": cores,
                              "node_a_samples": samples})


def _machine_ticks() -> int:
    """Busy CPU ticks of the whole machine so far (everyone's work, ours included)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    return sum(fields) - fields[3] - fields[4]


RESULTS = Path(__file__).resolve().parent.parent / "results" / "scaleout_provisioning.json"


def run(seconds: float, quick: bool = False) -> list[dict]:
    """The rows; a full run also keeps them in bench/results/scaleout_provisioning.json
    (with the machine's load), which docs/scale-out.md quotes."""
    wrk.require_wrk()
    if not _redis_answers():
        raise SystemExit(f"Redis not reachable at {REDIS_URL}")
    results: dict[str, Measurement] = {}
    machine0 = _machine_ticks()
    time.sleep(1.0)
    busy_before = round((_machine_ticks() - machine0) / CLK_TCK, 2)  # others' work, in cores
    with _database() as db_url, tempfile.TemporaryDirectory(prefix="gridlinks-bench-scaleout-") as tmp:
        root = Path(tmp)
        _init(root / "a", db_url)
        layouts = {"one node": [SERVER_CPU], "two nodes, one core": [SERVER_CPU, SERVER_CPU],
                   "two nodes, a core each": [SERVER_CPU, LOAD_CPU]}
        for n, (label, cpus) in enumerate(layouts.items()):
            with ExitStack() as stack:
                nodes = []
                for i, cpu in enumerate(cpus):
                    data_dir = root / "ab"[i]
                    data_dir.mkdir(exist_ok=True)
                    proc, ports = _start(VENV_BIN / "gridlinks", data_dir, _env(db_url), None,
                                         data_dir / "hub.log", cpu=cpu)
                    stack.callback(stop, proc)
                    nodes.append((proc, f"http://127.0.0.1:{ports['http']}"))
                results[label] = _measure([u for _, u in nodes], seconds, [p for p, _ in nodes], f"r{n}")
    one = results["one node"].to_json()
    notes = ["PostgreSQL and Redis on the same 2-core machine; load spread by the client (one wrk per node)",
             "cores_used: CPU each process used during the measurement (node_a, node_b, postgresql, redis-server; "
             "whole_machine includes everyone else's work); node_a_samples: py-spy on node A"]
    rows = [absolute("HTTP provisioning on PostgreSQL (cluster_redis), 1 node", "provisions/s", one, notes=notes)]
    for label in ("two nodes, one core", "two nodes, a core each"):
        rows.append(compare(f"HTTP provisioning on PostgreSQL (cluster_redis), {label}", "provisions/s",
                            results[label].to_json(), one, "1 node, same run",
                            notes=[f"per node: {results[label].extra['per_node']}; analysis in docs/scale-out.md"]))
    if not quick:
        RESULTS.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "seconds": seconds,
                                       "busy_cores_before": busy_before, "rows": rows}, indent=2) + "\n")
    return rows
