"""The CoAP device API over real UDP on 127.0.0.1: every response code of issue 4,
payload limits, observe on shared attributes, and a clean shutdown."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from aiocoap import Code, Context, Message

from gridlinks.core.errors import StartupError
from gridlinks.core.hub import Hub
from gridlinks.core.storage.models import Device, LatestValue, Scope
from tests.coap_client import TIMEOUT, CoapClient, coap_port
from tests.support import free_port, hub_config, start_hub, stop_hub


def body(response: Message):
    return json.loads(response.payload)


# -- provisioning -------------------------------------------------------------------

async def test_provision_success_is_201_with_the_json_body(running, coap):
    response = await coap.provision(running, deviceName="coap-1")
    assert response.code == Code.CREATED
    reply = body(response)
    assert reply["status"] == "SUCCESS" and reply["credentialsType"] == "ACCESS_TOKEN", reply
    assert len(reply["credentialsValue"]) == 20 and reply["deviceName"] == "coap-1"
    assert list(reply)[:3] == ["credentialsValue", "credentialsType", "status"]
    response = await coap.provision(running, deviceName="coap-2", credentialsType="ACCESS_TOKEN", token="dev-tok-1")
    assert response.code == Code.CREATED and body(response)["credentialsValue"] == "dev-tok-1"


async def test_provision_refusals_are_400_with_the_json_body(running, coap):
    response = await coap.post("/api/v1/provision", {"provisionDeviceKey": running.key, "provisionDeviceSecret": "x"})
    assert response.code == Code.BAD_REQUEST
    assert body(response) == {"errorMsg": "Provision data was not found!", "status": "NOT_FOUND"}
    await coap.device(running, "taken")
    response = await coap.provision(running, deviceName="taken")
    assert response.code == Code.BAD_REQUEST
    assert body(response) == {"errorMsg": "Failed to provision device!", "status": "FAILURE"}


@pytest.mark.parametrize("payload", [b"\xff\xfe not json", b"", b"[1, 2]", b'{"provisionDeviceKey": "k"}'])
async def test_undecodable_or_malformed_provision_request_is_400(running, coap, payload):
    response = await coap.post("/api/v1/provision", payload)
    assert response.code == Code.BAD_REQUEST
    assert await Device.all().count() == 0


# -- device API -----------------------------------------------------------------------

async def test_telemetry_and_attributes(running, coap):
    token = await coap.device(running, "dev")
    response = await coap.post(f"/api/v1/{token}/telemetry", {"temperature": 21.5})
    assert response.code == Code.CREATED and response.payload == b""
    assert (await coap.post(f"/api/v1/{token}/telemetry", [{"ts": 5, "values": {"hum": 40}}])).code == Code.CREATED
    device = await Device.get(name="dev")
    latest = {row.key: row.value for row in await LatestValue.filter(device_id=device.id)}
    assert latest == {"temperature": 21.5, "hum": 40}

    assert (await coap.post(f"/api/v1/{token}/attributes", {"fw": "1.0", "model": "x"})).code == Code.CREATED
    await running.hub.devices.set_attributes(device, Scope.SHARED, {"target": 21})
    response = await coap.get(f"/api/v1/{token}/attributes")
    assert response.code == Code.CONTENT
    assert body(response) == {"client": {"fw": "1.0", "model": "x"}, "shared": {"target": 21}}
    response = await coap.get(f"/api/v1/{token}/attributes", uri_query=["clientKeys=fw", "sharedKeys=target"])
    assert body(response) == {"client": {"fw": "1.0"}, "shared": {"target": 21}}
    response = await coap.get(f"/api/v1/{token}/attributes", uri_query=["sharedKeys=target"])
    assert body(response) == {"shared": {"target": 21}}


async def test_unknown_token_is_401(running, coap):
    for code, path in [(Code.POST, "/api/v1/nosuchtoken/telemetry"), (Code.POST, "/api/v1/nosuchtoken/attributes"),
                       (Code.GET, "/api/v1/nosuchtoken/attributes"), (Code.POST, "/api/v1/bad%20token/telemetry")]:
        response = await coap.request(code, path, {"a": 1} if code == Code.POST else b"")
        assert response.code == Code.UNAUTHORIZED, path
    assert await LatestValue.all().count() == 0


@pytest.mark.parametrize("payload", [b"{not json", b"\xff", b'"just a string"', b"[]", b'{"": 1}'])
async def test_bad_telemetry_or_attributes_is_400_and_writes_nothing(running, coap, payload):
    token = await coap.device(running, "dev")
    assert (await coap.post(f"/api/v1/{token}/telemetry", payload)).code == Code.BAD_REQUEST
    assert (await coap.post(f"/api/v1/{token}/attributes", payload)).code == Code.BAD_REQUEST
    assert await LatestValue.all().count() == 0


async def test_unknown_path_is_404_and_wrong_method_is_405(running, coap):
    token = await coap.device(running, "dev")
    for path in ["/", "/api", "/api/v1", f"/api/v1/{token}/nosuch", f"/api/v1/{token}/telemetry/extra",
                 "/.well-known/core"]:
        assert (await coap.get(path)).code == Code.NOT_FOUND, path
    assert (await coap.get(f"/api/v1/{token}/telemetry")).code == Code.METHOD_NOT_ALLOWED
    assert (await coap.request(Code.PUT, "/api/v1/provision", b"{}")).code == Code.METHOD_NOT_ALLOWED
    assert (await coap.request(Code.DELETE, f"/api/v1/{token}/attributes")).code == Code.METHOD_NOT_ALLOWED


# -- payload limits -----------------------------------------------------------------

async def test_blockwise_upload_under_the_limit_is_assembled(running, coap):
    token = await coap.device(running, "dev")
    values = {f"key{i}": "v" * 40 for i in range(100)}  # ~5 KB: several Block1 blocks
    assert (await coap.post(f"/api/v1/{token}/telemetry", values)).code == Code.CREATED
    device = await Device.get(name="dev")
    assert await LatestValue.filter(device_id=device.id).count() == 100


async def test_blockwise_upload_over_the_limit_is_413(running, coap):
    token = await coap.device(running, "dev")
    limit = running.hub.settings.max_payload_bytes
    values = {"big": "x" * (limit + 10)}
    response = await coap.post(f"/api/v1/{token}/telemetry", values)
    assert response.code == Code.REQUEST_ENTITY_TOO_LARGE
    assert response.opt.size1 == limit
    assert await LatestValue.all().count() == 0
    # The hub is still serving.
    assert (await coap.post(f"/api/v1/{token}/telemetry", {"t": 1})).code == Code.CREATED


async def test_single_message_over_a_small_limit_is_413(tmp_path):
    running = await start_hub(hub_config(tmp_path / "data", max_payload_bytes=64))
    context = await Context.create_client_context(transports=["udp6"])
    try:
        coap = CoapClient(context, coap_port(running.hub))
        response = await coap.post("/api/v1/provision", {"provisionDeviceKey": "k" * 80, "provisionDeviceSecret": "s"})
        assert response.code == Code.REQUEST_ENTITY_TOO_LARGE
        response = await coap.post("/api/v1/provision", {"provisionDeviceKey": "k", "provisionDeviceSecret": "s"})
        assert response.code == Code.BAD_REQUEST and body(response)["status"] == "NOT_FOUND"
    finally:
        await context.shutdown()
        await stop_hub(running)


def _udp_exchange(port: int, datagram: bytes) -> Message | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendto(datagram, ("127.0.0.1", port))
        data, _ = sock.recvfrom(65536)
        return Message.decode(data)


async def test_datagram_too_big_to_receive_is_413_not_truncated(running, coap):
    """aiocoap would cut a 6 KB datagram at its 4 KB buffer; that must not be parsed as a shorter body."""
    port = coap_port(running.hub)
    request = Message(code=Code.POST, mid=4242, token=b"t1", uri_path=("api", "v1", "provision"),
                      payload=json.dumps({"provisionDeviceKey": running.key, "provisionDeviceSecret": running.secret,
                                          "deviceName": "n" * 6000}).encode())
    from aiocoap.numbers import CON
    request.mtype = CON
    reply = await asyncio.to_thread(_udp_exchange, port, request.encode())
    assert reply is not None and reply.code == Code.REQUEST_ENTITY_TOO_LARGE, reply
    assert await Device.all().count() == 0


async def test_garbage_datagrams_do_not_break_the_server(running, coap):
    port = coap_port(running.hub)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for junk in [b"", b"\x00", b"\xff" * 50, b"\x40\x01\x00", bytes(range(256))]:
            sock.sendto(junk, ("127.0.0.1", port))
    response = await coap.provision(running, deviceName="after-junk")
    assert response.code == Code.CREATED


# -- observe ------------------------------------------------------------------------

async def _observe(coap: CoapClient, token: str):
    """Register an observation; returns the first answer, the request and the list every
    later notification is appended to. (aiocoap's async iterator is lossy: a final
    notification followed at once by the end of the observation is never yielded.)"""
    request = coap.context.request(coap.message(Code.GET, f"/api/v1/{token}/attributes", observe=0))
    first = await asyncio.wait_for(request.response, TIMEOUT)
    received: list[Message] = []
    if request.observation is not None and not request.observation.cancelled:
        request.observation.register_callback(received.append)
    return first, request, received


async def _until(predicate, what: str) -> None:
    for _ in range(200):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting until {what}")


async def test_observe_pushes_shared_attribute_updates_to_that_device_only(running, coap):
    token = await coap.device(running, "watched")
    other_token = await coap.device(running, "other")
    device = await Device.get(name="watched")
    other = await Device.get(name="other")
    observers = running.hub.transports.get("coap").observers
    await running.hub.devices.set_attributes(device, Scope.SHARED, {"mode": "eco"})

    first, request, received = await _observe(coap, token)
    assert first.code == Code.CONTENT and first.opt.observe is not None
    assert body(first) == {"mode": "eco"}
    assert observers.count(device.id) == 1

    # Not pushed: another device's shared attributes, this device's own client attributes.
    await running.hub.devices.set_attributes(other, Scope.SHARED, {"mode": "other"})
    assert (await coap.post(f"/api/v1/{token}/attributes", {"fw": "2"})).code == Code.CREATED
    # Pushed, through the admin REST API as a person would.
    status, _ = await running.admin("POST", f"/api/plugins/telemetry/DEVICE/{device.id}/attributes/SHARED_SCOPE",
                                    {"target": 23, "mode": "boost"})
    assert status == 200
    await _until(lambda: len(received) == 1, "the first notification arrives")
    assert received[0].code == Code.CONTENT and body(received[0]) == {"target": 23, "mode": "boost"}
    await running.hub.devices.set_attributes(device, Scope.SHARED, {"target": 24})
    await _until(lambda: len(received) == 2, "the second notification arrives")
    assert body(received[1]) == {"target": 24}
    await running.hub.devices.delete_attributes(device, Scope.SHARED, ["mode"])
    await _until(lambda: len(received) == 3, "the deletion notification arrives")
    assert body(received[2]) == {"deleted": ["mode"]}
    assert other_token and observers.count(other.id) == 0

    # A cancelled observation is dropped by the hub once the device stops acknowledging it.
    request.observation.cancel()
    for value in range(3):
        await running.hub.devices.set_attributes(device, Scope.SHARED, {"target": value})
        await asyncio.sleep(0.05)
    await _until(lambda: observers.count(device.id) == 0, "the cancelled observation is removed")


async def test_observe_with_unknown_token_is_401_and_registers_nothing(running, coap):
    response = await coap.get("/api/v1/nosuchtoken/attributes", observe=0)
    assert response.code == Code.UNAUTHORIZED and response.opt.observe is None
    assert running.hub.transports.get("coap").observers.count() == 0


async def test_observations_per_device_are_capped(tmp_path):
    running = await start_hub(hub_config(tmp_path / "data", coap={"max_observers_per_device": 1}))
    context = await Context.create_client_context(transports=["udp6"])
    try:
        coap = CoapClient(context, coap_port(running.hub))
        token = await coap.device(running, "capped")
        response, first, _ = await _observe(coap, token)
        assert response.opt.observe is not None
        second = await coap.get(f"/api/v1/{token}/attributes", observe=0)
        assert second.code == Code.CONTENT and second.opt.observe is None  # answered, not observed
        assert running.hub.transports.get("coap").observers.count() == 1
        first.observation.cancel()
    finally:
        await context.shutdown()
        await stop_hub(running)


async def test_stop_ends_observations_and_leaves_no_tasks(tmp_path):
    before = set(asyncio.all_tasks())
    running = await start_hub(hub_config(tmp_path / "data"))
    context = await Context.create_client_context(transports=["udp6"])
    try:
        coap = CoapClient(context, coap_port(running.hub))
        token = await coap.device(running, "watched")
        _, request, received = await _observe(coap, token)
        await stop_hub(running)
        await _until(lambda: received, "the hub's goodbye arrives")
        assert [m.code for m in received] == [Code.SERVICE_UNAVAILABLE]
    finally:
        await context.shutdown()
        await stop_hub(running)
    await asyncio.sleep(0)
    leftover = {t for t in asyncio.all_tasks() - before if t is not asyncio.current_task() and not t.done()}
    assert not leftover, leftover


# -- start-up -------------------------------------------------------------------------

async def test_port_in_use_is_one_clear_line(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        hub = Hub(hub_config(tmp_path / "data", coap={"port": port}))
        with pytest.raises(StartupError) as err:
            await hub.start()
    message = str(err.value)
    assert str(port) in message and "coap.port" in message and "GRIDLINKS_COAP_PORT" in message


async def test_port_held_by_another_coap_server_is_refused(tmp_path):
    """aiocoap binds with SO_REUSEPORT, so without the hub's probe a second server would share the port."""
    port = free_port(socket.SOCK_DGRAM)
    other = await Context.create_server_context(None, bind=("127.0.0.1", port), transports=["udp6"])
    try:
        hub = Hub(hub_config(tmp_path / "data", coap={"port": port}))
        with pytest.raises(StartupError, match="coap.port"):
            await hub.start()
    finally:
        await other.shutdown()
