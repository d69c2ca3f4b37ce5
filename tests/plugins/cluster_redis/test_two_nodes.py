"""Two hub nodes on one PostgreSQL database and one Redis (issue 14): node A in this
process, node B a real `gridlinks run` process. What A's admin API changes must reach a
device connected to B (a shared-attribute push; a deleted device's session ends)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from gridlinks.core.config import DEFAULT_PLUGINS
from tests.claim_support import claim, customer_user, new_device
from tests.cli_support import GRIDLINKS
from tests.mqtt_wire import MqttWire
from tests.support import REDIS_URL, RunningHub, hub_config, port_env, redis_or_skip, start_hub, stop_hub, wait_healthy

PLUGINS = [*DEFAULT_PLUGINS, "cluster_redis"]


@contextlib.asynccontextmanager
async def node_b(tmp_path: Path, db_url: str, plugins: list[str] = PLUGINS, **env: str):
    """Node B: `gridlinks run` on the same PostgreSQL and Redis; yields its ports and log."""
    ports = port_env()
    full = {k: v for k, v in os.environ.items() if not k.startswith("GRIDLINKS_")}
    full.update(ports, GRIDLINKS_DATA_DIR=str(tmp_path / "b"), GRIDLINKS_DB_URL=db_url,
                GRIDLINKS_REDIS_URL=REDIS_URL, GRIDLINKS_PLUGINS=",".join(plugins))
    full.update(env)
    log = tmp_path / "b.log"
    with open(log, "a") as out:
        proc = subprocess.Popen([str(GRIDLINKS), "run"], env=full, stdout=out, stderr=subprocess.STDOUT)
    try:
        await wait_healthy(f"http://127.0.0.1:{ports['GRIDLINKS_HTTP_PORT']}/api/health", proc, log)
        yield ports, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, 30)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_changes_on_node_a_reach_a_device_on_node_b(tmp_path, db_url):
    await redis_or_skip()
    node_a = await start_hub(hub_config(tmp_path / "a", db_url=db_url, redis_url=REDIS_URL, plugins=PLUGINS))
    try:
        device_id, token = await new_device(node_a, "roams-between-nodes")
        async with node_b(tmp_path, db_url) as (ports, log):
            await _walk(node_a, device_id, token, ports, log)
    finally:
        await stop_hub(node_a)


async def _walk(node_a: RunningHub, device_id: str, token: str, ports: dict[str, str], log: Path) -> None:
    """What node A changes, seen by a device and a provisioning client on node B."""
    # One signing key in the database: a token signed by node A is valid on node B.
    async with node_a.session.get(f"http://127.0.0.1:{ports['GRIDLINKS_HTTP_PORT']}/api/auth/user",
                                  headers={"X-Authorization": f"Bearer {node_a.admin_token}"}) as response:
        assert response.status == 200, await response.text()
    device, rc = await MqttWire.connect(int(ports["GRIDLINKS_MQTT_PORT"]), client_id="roamer", username=token)
    assert rc == 0, f"node B refused the device's login: {rc}\n{log.read_text()[-2000:]}"
    assert await device.subscribe("v1/devices/me/attributes", 1) == 1

    status, _ = await node_a.admin("POST", f"/api/plugins/telemetry/DEVICE/{device_id}/attributes/SHARED_SCOPE",
                                   {"target": 42})
    assert status == 200
    topic, payload, _ = await device.message(timeout=5)
    assert topic == "v1/devices/me/attributes" and json.loads(payload) == {"target": 42}

    assert (await node_a.admin("DELETE", f"/api/device/{device_id}"))[0] == 200
    assert await device.closed_by_server(timeout=5), "node B kept the session of a device deleted on node A"
    await device.close()

    # A profile changed on A is not served stale by B's profile cache (profile_cache_s).
    b_http = f"http://127.0.0.1:{ports['GRIDLINKS_HTTP_PORT']}"

    async def provision_on_b(name: str, secret: str) -> str:
        body = {"deviceName": name, "provisionDeviceKey": node_a.key, "provisionDeviceSecret": secret}
        async with node_a.session.post(b_http + "/api/v1/provision", json=body) as response:
            return (await response.json())["status"]

    assert await provision_on_b("b-1", node_a.secret) == "SUCCESS"  # B has the profile cached now
    status, page = await node_a.admin("GET", "/api/deviceProfiles?pageSize=100&page=0")
    profile = next(p for p in page["data"] if p["provisionDeviceKey"] == node_a.key)
    profile["profileData"]["provisionConfiguration"]["provisionDeviceSecret"] = "rotated-on-node-a"
    assert (await node_a.admin("POST", "/api/deviceProfile", profile))[0] == 200
    for _ in range(50):  # the event crosses Redis asynchronously: well under the 5 s cache
        if await provision_on_b("b-2", "rotated-on-node-a") == "SUCCESS":
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("node B kept serving the profile it had cached before node A changed it")



CLAIM_PLUGINS = ["claim_store_redis" if p == "claim_store_memory" else p for p in PLUGINS]


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_claims_and_provisioning_spread_over_two_nodes(tmp_path, db_url):
    """Claim info sent to B is claimed on A and re-claimed on B; one new name provisioned 100
    times over both nodes has one winner; wrong secrets over both nodes lock the caller out
    on both; claim info survives a restart of both nodes."""
    await redis_or_skip()
    config = dict(db_url=db_url, redis_url=REDIS_URL, plugins=CLAIM_PLUGINS, claim={"store": "redis"})
    node_a = await start_hub(hub_config(tmp_path / "a", **config))
    try:
        async with node_b(tmp_path, db_url, CLAIM_PLUGINS, GRIDLINKS_CLAIM_STORE="redis") as (ports, _):
            b = dataclasses.replace(node_a, base_url=f"http://127.0.0.1:{ports['GRIDLINKS_HTTP_PORT']}")
            _, token = await new_device(node_a, "claimed-across-nodes")
            assert (await b.post(f"/api/v1/{token}/claim", json={"secretKey": "k1", "durationMs": 60000}))[0] == 200
            _, owner = await customer_user(node_a, "Owner Ltd", "owner@customer.test")
            status, body = await claim(node_a, owner, "claimed-across-nodes", "k1")
            assert status == 200 and body["response"] == "SUCCESS", body
            assert (await b.delete("/api/customer/device/claimed-across-nodes/claim", token=owner))[0] == 200

            replies = await asyncio.gather(*((node_a if i % 2 else b).provision(
                deviceName="one-name", provisionDeviceKey=node_a.key, provisionDeviceSecret=node_a.secret)
                for i in range(100)))
            assert [r[1]["status"] for r in replies].count("SUCCESS") == 1, replies

            _, token = await new_device(node_a, "guarded")
            assert (await node_a.post(f"/api/v1/{token}/claim", json={"secretKey": "right"}))[0] == 200
            _, guesser = await customer_user(node_a, "Guessers", "guesser@customer.test")
            statuses = [(await claim(node_a if i % 2 else b, guesser, "guarded", f"wrong-{i}"))[0] for i in range(8)]
            assert statuses[:5] == [400] * 5 and statuses[5:] == [429] * 3, statuses  # counted across nodes
            assert (await claim(node_a, guesser, "guarded", "right"))[0] == 429  # locked on A ...
            assert (await claim(b, guesser, "guarded", "right"))[0] == 429  # ... and on B

            _, token = await new_device(node_a, "survivor")
            assert (await node_a.post(f"/api/v1/{token}/claim", json={"secretKey": "s"}))[0] == 200
    finally:
        await stop_hub(node_a)
    # Both nodes were stopped: claim info lives in Redis, not in either node.
    node_a = await start_hub(hub_config(tmp_path / "a", **config))
    try:
        async with node_b(tmp_path, db_url, CLAIM_PLUGINS, GRIDLINKS_CLAIM_STORE="redis") as (ports, _):
            b = dataclasses.replace(node_a, base_url=f"http://127.0.0.1:{ports['GRIDLINKS_HTTP_PORT']}")
            _, owner = await customer_user(node_a, "Survivor Ltd", "survivor@customer.test")
            status, body = await claim(b, owner, "survivor", "s")
            assert status == 200 and body["response"] == "SUCCESS", body
    finally:
        await stop_hub(node_a)
