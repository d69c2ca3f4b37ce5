"""Two hub nodes on one PostgreSQL database and one Redis, continued (issue 14): a CoAP
observer on B hears what A's admin API sets, dynamic registration started on one node
goes on on the other, a dashboard bulk import is one job for both nodes, B's live feed
shows A's events, and a node that loses Redis keeps serving its devices and picks the
cluster events up again."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest
from aiocoap import Code, Context

from gridlinks.core.services.bootstrap import default_tenant
from gridlinks.core.storage.models import AuditEvent
from tests.browser.support import DashboardClient
from tests.claim_support import new_device
from tests.coap_client import CoapClient
from tests.mqtt_wire import MqttWire
from tests.plugins.cluster_redis.test_two_nodes import PLUGINS, node_b
from tests.plugins.dynamic_registration.support import (
    DEVICE_SN,
    PRODUCT_SECRET,
    PRODUCT_SN,
    ask,
    login,
    password_of,
)
from tests.support import ADMIN_EMAIL, ADMIN_PASSWORD, REDIS_URL, hub_config, redis_or_skip, start_hub, stop_hub
from tests.web.test_dashboard import _read_feed_until


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_coap_registration_and_bulk_import_across_nodes(tmp_path, db_url):
    await redis_or_skip()
    node_a = await start_hub(hub_config(tmp_path / "a", db_url=db_url, redis_url=REDIS_URL, plugins=PLUGINS))
    node_a.mqtt_port = node_a.hub.transports.get("mqtt").settings.port
    try:
        async with node_b(tmp_path, db_url) as (ports, log):
            b = SimpleNamespace(mqtt_port=int(ports["GRIDLINKS_MQTT_PORT"]),
                                base_url=f"http://127.0.0.1:{ports['GRIDLINKS_HTTP_PORT']}")
            await _coap_observer_on_b(node_a, int(ports["GRIDLINKS_COAP_PORT"]))
            await _registration_across_nodes(node_a, b, log)
            await _bulk_import_across_nodes(node_a, b)
            await _live_feed_on_b(node_a, b)
    finally:
        await stop_hub(node_a)


async def _coap_observer_on_b(node_a, coap_port: int) -> None:
    """A shared attribute set through A's admin API reaches a CoAP observer on B within a second."""
    device_id, token = await new_device(node_a, "coap-on-b")
    context = await Context.create_client_context()
    try:
        coap = CoapClient(context, coap_port)
        request = context.request(coap.message(Code.GET, f"/api/v1/{token}/attributes", observe=0))
        first = await asyncio.wait_for(request.response, 10)
        assert first.code == Code.CONTENT and first.opt.observe is not None
        heard = asyncio.get_running_loop().create_future()
        request.observation.register_callback(lambda m: heard.done() or heard.set_result(m))
        started = time.monotonic()
        status, _ = await node_a.admin("POST", f"/api/plugins/telemetry/DEVICE/{device_id}/attributes/SHARED_SCOPE",
                                       {"setpoint": 21.5})
        assert status == 200
        pushed = await asyncio.wait_for(heard, 1.0)  # within a second, or TimeoutError
        assert json.loads(pushed.payload) == {"setpoint": 21.5}
        assert time.monotonic() - started < 1.0
        request.observation.cancel()
    finally:
        await context.shutdown()


async def _registration_across_nodes(node_a, b, log: Path) -> None:
    """Password issued on A, device logs in on B, reset through A ends its session on B,
    and B issues the next secret: the state is one row in PostgreSQL, not a node's memory."""
    hub = node_a.hub
    tenant = await default_tenant(hub)
    product = await hub.profiles.create(tenant, "Thermostat", "CHECK_PRE_PROVISIONED_DEVICES", PRODUCT_SN,
                                        PRODUCT_SECRET, {"dynamicRegistration": True})
    device = await hub.devices.create(tenant, product, DEVICE_SN)
    first = await password_of(node_a)
    again, client = await ask(b)  # not activated yet: B hands out the secret A issued
    await client.close()
    assert again["RetCode"] == "0" and again["Password"] == first
    session, rc = await login(b, 1, first)
    assert rc == 0, log.read_text()[-2000:]
    refused, client = await ask(node_a)  # activated on B: A refuses a new request
    await client.close()
    assert refused["RetCode"] == "5", refused
    status, state = await node_a.admin("DELETE", f"/api/dynamicRegistration/device/{device.id}")
    assert status == 200 and state["state"] == "NONE"
    assert await session.closed_by_server(timeout=5), "node B kept the session of a device reset on node A"
    await session.close()
    second = await password_of(b)
    assert second != first
    _, rc = await login(node_a, 1, first)
    assert rc == 5  # the old secret is gone everywhere
    session, rc = await login(node_a, 1, second)
    assert rc == 0
    await session.close()


async def _bulk_import_across_nodes(node_a, b) -> None:
    """Uploaded on A, started on B (and a second start on A does nothing), reported on both."""
    on_a, on_b = DashboardClient(node_a.base_url), DashboardClient(b.base_url)
    try:
        for client in (on_a, on_b):
            assert await client.login(ADMIN_EMAIL, ADMIN_PASSWORD) == 200
        form = aiohttp.FormData()
        form.add_field("file", b"name,type,access_token\nbulk-1,Imported,tok-bulk-1\nbulk-2,Imported,tok-bulk-1\n",
                       filename="two-nodes.csv", content_type="text/csv")
        form.add_field("delimiter", "comma")
        form.add_field("header", "on")
        status, _, response = await on_a.post("/ui/import", form)
        assert status == 303
        job = response.headers["Location"]
        status, html, _ = await on_b.get(job)  # B previews the file A received
        assert status == 200 and "bulk-2" in html
        mapping = {"width": "3", "type_0": "NAME", "type_1": "TYPE", "type_2": "ACCESS_TOKEN", "update": "on"}
        assert (await on_b.post(job + "/run", mapping))[0] == 303
        assert (await on_a.post(job + "/run", mapping))[0] == 303  # already started: not run twice
        for _ in range(100):
            report = json.loads((await on_a.get(job + "/status"))[1])
            if report["state"] == "done":
                break
            await asyncio.sleep(0.05)
        assert report["result"] == {"created": 1, "updated": 0, "errors": 1, "errorsList": [
            "Line 3 (device bulk-2, column ACCESS_TOKEN): "
            "Device credentials are already assigned to another device!"]}, report
        status, html, _ = await on_b.get("/ui/import")  # listed with its report on B
        assert "two-nodes.csv" in html and job.rsplit("/", 1)[1] in html
        status, html, _ = await on_b.get(job)
        assert 'id="import-created">1<' in html and ADMIN_EMAIL in html
    finally:
        await on_a.close()
        await on_b.close()


async def _live_feed_on_b(node_a, b) -> None:
    """The dashboard's live feed on B shows what happens on A (here a refused provisioning,
    an event no node acts on), and B writes no second audit row for it."""
    on_b = DashboardClient(b.base_url)
    try:
        assert await on_b.login(ADMIN_EMAIL, ADMIN_PASSWORD) == 200
        async with on_b.session.get(b.base_url + "/ui/events") as response:
            assert response.status == 200
            await asyncio.wait_for(response.content.readline(), 5)  # the stream is open
            status, body = await node_a.provision(deviceName="refused-on-a", provisionDeviceKey=node_a.key,
                                                  provisionDeviceSecret="not-the-secret")
            assert body["status"] != "SUCCESS"
            events = await _read_feed_until(response, "refused-on-a", 5)
        assert [e["type"] for e in events if e.get("device_name") == "refused-on-a"] == ["provision_failed"]
        await asyncio.sleep(0.3)
        assert await AuditEvent.filter(action="provision_failed", device_name="refused-on-a").count() == 1
    finally:
        await on_b.close()


class RedisProxy:
    """A TCP proxy in front of Redis that the test can cut (every connection closed, the port
    refused) and restore, as a lost network link or a restarted Redis would."""

    def __init__(self, target_port: int = 6379):
        self.target_port = target_port
        self.server: asyncio.Server | None = None
        self.port = 0
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        await self.server.wait_closed()
        self.server = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers.add(up_writer)
        if self.server is None or writer.transport.is_closing():  # cut while this one was being set up
            up_writer.transport.abort()
            writer.transport.abort()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()
                self.writers.discard(dst)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def _wait_for_log(log: Path, text: str, count: int = 1, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while log.read_text().count(text) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"node B never logged {text!r}:\n{log.read_text()[-2000:]}")
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_node_that_loses_redis_keeps_serving_and_reconnects(tmp_path, db_url):
    await redis_or_skip()
    proxy = RedisProxy(int(REDIS_URL.rsplit(":", 1)[1].split("/")[0]))
    await proxy.start()
    node_a = await start_hub(hub_config(tmp_path / "a", db_url=db_url, redis_url=REDIS_URL, plugins=PLUGINS))
    try:
        device_id, token = await new_device(node_a, "survives-redis")
        attributes = f"/api/plugins/telemetry/DEVICE/{device_id}/attributes/SHARED_SCOPE"
        # A profile cache that never expires by itself: only events (or a resync) refresh it.
        async with node_b(tmp_path, db_url, GRIDLINKS_REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0",
                          GRIDLINKS_PROFILE_CACHE_S="3600") as (ports, log):
            b_http = f"http://127.0.0.1:{ports['GRIDLINKS_HTTP_PORT']}"
            device, rc = await MqttWire.connect(int(ports["GRIDLINKS_MQTT_PORT"]), client_id="d", username=token)
            assert rc == 0 and await device.subscribe("v1/devices/me/attributes", 1) == 1

            await proxy.cut()
            await _wait_for_log(log, "cluster: lost Redis")
            # B serves its devices: MQTT telemetry acknowledged, HTTP telemetry and provisioning answered.
            assert await device.publish("v1/devices/me/telemetry", "{\"t\": 1}", qos=1) == 0
            async with node_a.session.post(f"{b_http}/api/v1/{token}/telemetry", json={"t": 2}) as response:
                assert response.status == 200
            async def provision_on_b(name: str, secret: str) -> str:
                body = {"deviceName": name, "provisionDeviceKey": node_a.key, "provisionDeviceSecret": secret}
                async with node_a.session.post(f"{b_http}/api/v1/provision", json=body) as response:
                    return (await response.json())["status"]
            assert await provision_on_b("born-without-redis", node_a.secret) == "SUCCESS"
            # What A changes meanwhile does not reach B (documented in docs/scale-out.md): a push
            # to B's device, and a profile change (B keeps serving the profile it cached).
            assert (await node_a.admin("POST", attributes, {"while_down": 1}))[0] == 200
            _, page = await node_a.admin("GET", "/api/deviceProfiles?pageSize=100&page=0")
            profile = next(p for p in page["data"] if p["provisionDeviceKey"] == node_a.key)
            profile["profileData"]["provisionConfiguration"]["provisionDeviceSecret"] = "rotated-while-b-was-cut-off"
            assert (await node_a.admin("POST", "/api/deviceProfile", profile))[0] == 200
            with pytest.raises(asyncio.TimeoutError):
                await device.message(timeout=1.5)
            assert await provision_on_b("stale-profile", "rotated-while-b-was-cut-off") != "SUCCESS"

            await proxy.start()  # Redis reachable again on the same address
            await _wait_for_log(log, "cluster: Redis is back")
            assert log.read_text().count("cluster: lost Redis") == 1  # said once, not once per retry
            # Back on the channel, B dropped what it derived from events it may have missed.
            for _ in range(40):
                if await provision_on_b("after-resync", "rotated-while-b-was-cut-off") == "SUCCESS":
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("node B kept its stale profile after Redis came back")
            assert (await node_a.admin("POST", attributes, {"after": 2}))[0] == 200
            topic, payload, _ = await device.message(timeout=5)
            assert json.loads(payload) == {"after": 2}
            await device.close()
    finally:
        await stop_hub(node_a)
        if proxy.server is not None:
            await proxy.cut()
