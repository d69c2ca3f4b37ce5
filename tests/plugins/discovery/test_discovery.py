"""A real zeroconf browser finds the hub's DNS-SD adverts, with their ports and TXT
records. mDNS over the loopback interface: hub and browser both use 127.0.0.1."""

from __future__ import annotations

import asyncio
import uuid

from zeroconf import IPVersion, ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from gridlinks.core.version import hub_version
from tests.support import hub_config, start_hub, stop_hub

TYPES = ["_http._tcp.local.", "_mqtt._tcp.local.", "_secure-mqtt._tcp.local.", "_coap._udp.local."]


async def browse(instance: str, timeout_s: float = 10.0) -> dict[str, AsyncServiceInfo]:
    """{service type: resolved info} of ``instance``'s adverts, as a device would see them."""
    zc = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    seen: dict[str, str] = {}
    everything = asyncio.Event()

    def on_change(zeroconf, service_type, name, state_change):
        if state_change is ServiceStateChange.Added and name.startswith(instance):
            seen[service_type] = name
            if len(seen) == len(TYPES):
                everything.set()

    browser = AsyncServiceBrowser(zc.zeroconf, TYPES, handlers=[on_change])
    try:
        await asyncio.wait_for(everything.wait(), timeout_s)
        found = {}
        for kind, name in seen.items():
            info = AsyncServiceInfo(kind, name)
            assert await info.async_request(zc.zeroconf, 3000), name
            found[kind] = info
        return found
    finally:
        await browser.async_cancel()
        await zc.async_close()


async def test_a_zeroconf_browser_finds_every_service_with_ports_and_txt(tmp_path):
    instance = f"GridLinks test {uuid.uuid4().hex[:8]}"
    running = await start_hub(hub_config(tmp_path / "data", discovery={"enabled": True, "name": instance}))
    try:
        found = await browse(instance)
        hub = running.hub
        http, mqtt, coap = (hub.transports.get(n).settings for n in ("http", "mqtt", "coap"))
        assert {kind: info.port for kind, info in found.items()} == {
            "_http._tcp.local.": http.port, "_mqtt._tcp.local.": mqtt.port,
            "_secure-mqtt._tcp.local.": mqtt.tls_port, "_coap._udp.local.": coap.port}
        txt = {kind: {k.decode(): v.decode() for k, v in info.properties.items()} for kind, info in found.items()}
        for kind in TYPES:
            assert txt[kind]["version"] == hub_version() and txt[kind]["product"] == "gridlinks"
            assert found[kind].parsed_addresses() == ["127.0.0.1"]
        assert txt["_http._tcp.local."]["path"] == "/ui/"
        assert txt["_http._tcp.local."]["provision"] == "/api/v1/provision"
        assert txt["_http._tcp.local."]["tls_port"] == str(http.tls_port)
        assert txt["_coap._udp.local."]["provision"] == "/api/v1/provision"
        assert txt["_mqtt._tcp.local."]["provision_topic"] == "/provision/request"
        assert txt["_secure-mqtt._tcp.local."]["provision_user"] == "provision"
        # What docs/discovery.md tells a device to do: provision at the advertised address.
        base = f"http://{found['_http._tcp.local.'].parsed_addresses()[0]}:{found['_http._tcp.local.'].port}"
        async with running.session.post(base + txt["_http._tcp.local."]["provision"], json={
                "deviceName": "found-me", "provisionDeviceKey": running.key,
                "provisionDeviceSecret": running.secret}) as r:
            assert r.status == 200 and (await r.json())["status"] == "SUCCESS"
    finally:
        await stop_hub(running)


async def test_test_hubs_do_not_advertise_by_default(running):
    assert running.hub.transports.get("discovery") is None
