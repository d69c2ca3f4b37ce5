"""Two hub nodes on one PostgreSQL database and one Redis (issue 14): node A in this
process, node B a real `gridlinks run` process. What A's admin API changes must reach a
device connected to B (a shared-attribute push; a deleted device's session ends)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from gridlinks.core.config import DEFAULT_PLUGINS
from tests.claim_support import new_device
from tests.cli_support import GRIDLINKS
from tests.mqtt_wire import MqttWire
from tests.support import REDIS_URL, hub_config, port_env, redis_or_skip, start_hub, stop_hub

PLUGINS = [*DEFAULT_PLUGINS, "cluster_redis"]


async def _node_b(tmp_path: Path, db_url: str) -> tuple[subprocess.Popen, dict[str, str], Path]:
    ports = port_env()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDLINKS_")}
    env.update(ports, GRIDLINKS_DATA_DIR=str(tmp_path / "b"), GRIDLINKS_DB_URL=db_url,
               GRIDLINKS_REDIS_URL=REDIS_URL, GRIDLINKS_PLUGINS=",".join(PLUGINS))
    log = tmp_path / "b.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(GRIDLINKS), "run"], env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{ports['GRIDLINKS_HTTP_PORT']}/api/health"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"node B exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            await asyncio.to_thread(urllib.request.urlopen, url, timeout=1)
            return proc, ports, log
        except OSError:
            await asyncio.sleep(0.2)
    proc.kill()
    raise AssertionError(f"node B did not start:\n{log.read_text()[-2000:]}")


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_changes_on_node_a_reach_a_device_on_node_b(tmp_path, db_url):
    await redis_or_skip()
    node_a = await start_hub(hub_config(tmp_path / "a", db_url=db_url, redis_url=REDIS_URL, plugins=PLUGINS))
    proc = None
    try:
        device_id, token = await new_device(node_a, "roams-between-nodes")
        proc, ports, log = await _node_b(tmp_path, db_url)
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
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, 30)
            except subprocess.TimeoutExpired:
                proc.kill()
        await stop_hub(node_a)
