"""Two hub nodes behind HAProxy (Debian's haproxy, installed by tests/setup_clients.sh),
the topology of docs/scale-out.md: the seed HTTP and MQTT scripts run unchanged through the
balancer, and when one node is killed (-9) under provisioning load the other keeps
answering and no device that was told SUCCESS is lost."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from gridlinks.core.config import DEFAULT_PLUGINS
from tests.cli_support import GRIDLINKS, cli
from tests.support import (
    REDIS_URL,
    REPO,
    free_port,
    port_env,
    redis_or_skip,
    run_script,
    run_until,
    seed_python_or_skip,
    wait_healthy,
)

SCRIPTS = Path(__file__).resolve().parent / "seed_scripts"
PLUGINS = ["claim_store_redis" if p == "claim_store_memory" else p for p in DEFAULT_PLUGINS] + ["cluster_redis"]
KEY, SECRET = "haproxyProvisionKey1", "haproxyProvisionSec1"
HAPROXY_CFG = REPO / "config" / "haproxy.cfg"


def _env(data_dir: Path, db_url: str, ports: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDLINKS_")}
    env.update(ports, GRIDLINKS_DATA_DIR=str(data_dir), GRIDLINKS_DB_URL=db_url, GRIDLINKS_REDIS_URL=REDIS_URL,
               GRIDLINKS_PLUGINS=",".join(PLUGINS), GRIDLINKS_CLAIM_STORE="redis", GRIDLINKS_LOG_LEVEL="WARNING")
    return env


@contextlib.asynccontextmanager
async def cluster(tmp_path: Path, db_url: str):
    """Two nodes and HAProxy in front of them; yields (nodes, balancer ports)."""
    nodes, procs = [], []
    try:
        for name in ("a", "b"):
            ports = port_env()
            log = tmp_path / f"{name}.log"
            with open(log, "w") as out:
                proc = subprocess.Popen([str(GRIDLINKS), "run"], env=_env(tmp_path / name, db_url, ports),
                                        stdout=out, stderr=subprocess.STDOUT)
            procs.append(proc)
            await wait_healthy(f"http://127.0.0.1:{ports['GRIDLINKS_HTTP_PORT']}/api/health", proc, log)
            nodes.append((proc, ports))
        front = {"HTTP_PORT": str(free_port()), "MQTT_PORT": str(free_port()), "STATS_PORT": str(free_port())}
        servers = {f"NODE_{n}_{kind}": ports[f"GRIDLINKS_{kind}_PORT"]
                   for n, (_, ports) in zip("AB", nodes) for kind in ("HTTP", "MQTT")}
        log = tmp_path / "haproxy.log"
        with open(log, "w") as out:
            balancer = subprocess.Popen(["haproxy", "-db", "-f", str(HAPROXY_CFG)], stdout=out,
                                        stderr=subprocess.STDOUT, env={**os.environ, **front, **servers})
        procs.append(balancer)
        await wait_healthy(f"http://127.0.0.1:{front['HTTP_PORT']}/api/health", balancer, log)
        yield nodes, front
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.to_thread(proc.wait, 30)
                except subprocess.TimeoutExpired:
                    proc.kill()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_seed_scripts_and_a_killed_node_behind_haproxy(tmp_path, db_url):
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (tests/setup_clients.sh installs Debian's haproxy as root)")
    await redis_or_skip()
    python = seed_python_or_skip()
    cli(tmp_path / "init", "init", "--admin-email", "ops@test.local", "--admin-password", "ops-password-1",
        env={"GRIDLINKS_DB_URL": db_url})
    cli(tmp_path / "init", "profile", "create", "--name", "Balanced", "--strategy", "allow-create", "--key", KEY,
        "--secret", SECRET, env={"GRIDLINKS_DB_URL": db_url})
    async with cluster(tmp_path, db_url) as (nodes, front):
        code, out = await run_script(SCRIPTS / "http_server_token.py",
                                     ["http://127.0.0.1", front["HTTP_PORT"], KEY, SECRET, "via-haproxy-http"],
                                     tmp_path, python=python)
        assert code == 0 and "'status': 'SUCCESS'" in out and "\n200\n" in out, out
        out = await run_until(python, SCRIPTS / "mqtt_server_token.py",
                              ["127.0.0.1", front["MQTT_PORT"], KEY, SECRET, "via-haproxy-mqtt"], tmp_path / "mqtt",
                              "[ThingsBoard client] Connected to ThingsBoard with credentials")
        assert "Connected to ThingsBoard with credentials" in out, out

        # Provisioning load through the balancer; node A dies (kill -9) in the middle of it.
        acknowledged: list[str] = []
        url = f"http://127.0.0.1:{front['HTTP_PORT']}/api/v1/provision"

        async def provision(session: aiohttp.ClientSession, name: str) -> None:
            body = {"deviceName": name, "provisionDeviceKey": KEY, "provisionDeviceSecret": SECRET}
            try:
                async with session.post(url, json=body) as response:
                    if response.status == 200 and (await response.json())["status"] == "SUCCESS":
                        acknowledged.append(name)
            except (TimeoutError, aiohttp.ClientError):
                pass  # a request the dying node never answered was never acknowledged

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            for batch in range(20):
                if batch == 8:
                    nodes[0][0].send_signal(signal.SIGKILL)
                await asyncio.gather(*(provision(session, f"load-{batch}-{i}") for i in range(16)))
            after_kill = [n for n in acknowledged if int(n.split("-")[1]) >= 12]
            assert after_kill, "node B stopped answering once node A died"

        conn = await asyncpg.connect(db_url.replace("postgres://", "postgresql://", 1))
        try:
            stored = {r["name"] for r in await conn.fetch("SELECT name FROM device WHERE name LIKE 'load-%'")}
            for name in ("via-haproxy-http", "via-haproxy-mqtt"):
                assert await conn.fetchval("SELECT count(*) FROM device WHERE name = $1", name) == 1
        finally:
            await conn.close()
        lost = sorted(set(acknowledged) - stored)
        assert not lost, f"{len(lost)} devices told SUCCESS are not stored: {lost[:5]}"
