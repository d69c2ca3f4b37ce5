"""One device API under three codecs: a telemetry post, an attribute post, an attribute
read and claim info over HTTP, CoAP and MQTT each reach the same
:class:`gridlinks.core.services.device_api.DeviceApi` method exactly once, on a running
hub over real sockets (aiohttp, aiocoap, a raw MQTT client).

The service's methods are wrapped on the hub's instance with a recorder that calls the
real method, so what is stored is what a device would have stored; the recorder only
notes who got there.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiocoap import Code, Context
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridlinks.core.errors import BadRequest
from gridlinks.core.services.device_payloads import MAX_KEY_LENGTH, key_list
from gridlinks.core.storage.models import Attribute, LatestValue, Scope
from tests.claim_support import new_device
from tests.coap_client import CoapClient, coap_port
from tests.mqtt_wire import MqttWire

ME = "v1/devices/me/"


def record(api: Any, name: str, calls: list[tuple[str, str]]) -> None:
    """Route every call of ``api.<name>`` through a recorder of (method, device name)."""
    real = getattr(api, name)

    def recorded(device, *args, **kwargs):
        calls.append((name, device.name))
        return real(device, *args, **kwargs)

    setattr(api, name, recorded)


@pytest.fixture
async def walk(running):
    """(running hub, CoAP client, MQTT session per device, calls) with three devices
    named after the transport that will speak for them."""
    tokens = {t: (await new_device(running, f"walk-{t}"))[1] for t in ("http", "coap", "mqtt")}
    calls: list[tuple[str, str]] = []
    for name in ("post_telemetry", "post_attributes", "read_attributes", "post_claim"):
        record(running.hub.device_api, name, calls)
    context = await Context.create_client_context(transports=["udp6"])
    mqtt, rc = await MqttWire.connect(running.hub.transports.get("mqtt").settings.port, client_id="walk",
                                      username=tokens["mqtt"])
    assert rc == 0
    try:
        yield running, tokens, CoapClient(context, coap_port(running.hub)), mqtt, calls
    finally:
        await mqtt.close()
        await context.shutdown()


async def test_telemetry_from_every_transport_reaches_post_telemetry_once(walk):
    running, tokens, coap, mqtt, calls = walk
    status, _ = await running.post(f"/api/v1/{tokens['http']}/telemetry", json={"t": 1})
    assert status == 200
    assert (await coap.post(f"/api/v1/{tokens['coap']}/telemetry", {"t": 2})).code == Code.CREATED
    assert await mqtt.publish(ME + "telemetry", json.dumps({"t": 3}), qos=1) == 0
    assert calls == [("post_telemetry", "walk-http"), ("post_telemetry", "walk-coap"),
                     ("post_telemetry", "walk-mqtt")]
    # Each answer came after the commit: the rows are there.
    stored = {row.device.name: row.value for row in await LatestValue.filter(key="t").prefetch_related("device")}
    assert stored == {"walk-http": 1, "walk-coap": 2, "walk-mqtt": 3}


async def test_attributes_from_every_transport_reach_the_same_methods(walk):
    running, tokens, coap, mqtt, calls = walk
    status, _ = await running.post(f"/api/v1/{tokens['http']}/attributes", json={"fw": "h"})
    assert status == 200
    assert (await coap.post(f"/api/v1/{tokens['coap']}/attributes", {"fw": "c"})).code == Code.CREATED
    assert await mqtt.publish(ME + "attributes", json.dumps({"fw": "m"}), qos=1) == 0
    assert calls == [("post_attributes", f"walk-{t}") for t in ("http", "coap", "mqtt")]
    rows = await Attribute.filter(key="fw").prefetch_related("device")
    assert {(r.device.name, r.scope, r.value) for r in rows} == {
        ("walk-http", Scope.CLIENT, "h"), ("walk-coap", Scope.CLIENT, "c"), ("walk-mqtt", Scope.CLIENT, "m")}

    calls.clear()
    status, body = await running.get(f"/api/v1/{tokens['http']}/attributes?clientKeys=fw")
    assert (status, body) == (200, {"client": {"fw": "h"}})
    response = await coap.get(f"/api/v1/{tokens['coap']}/attributes", uri_query=["clientKeys=fw"])
    assert response.code == Code.CONTENT and json.loads(response.payload) == {"client": {"fw": "c"}}
    assert await mqtt.subscribe(ME + "attributes/response/+", qos=1) == 1
    await mqtt.publish(ME + "attributes/request/7", json.dumps({"clientKeys": "fw"}), qos=1)
    topic, payload, _ = await mqtt.message()
    assert (topic, json.loads(payload)) == (ME + "attributes/response/7", {"client": {"fw": "m"}})
    assert calls == [("read_attributes", f"walk-{t}") for t in ("http", "coap", "mqtt")]


async def test_claim_info_from_every_transport_reaches_post_claim_once(walk):
    running, tokens, coap, mqtt, calls = walk
    status, _ = await running.post(f"/api/v1/{tokens['http']}/claim", json={"secretKey": "h"})
    assert status == 200
    assert (await coap.post(f"/api/v1/{tokens['coap']}/claim", {"secretKey": "c"})).code == Code.CREATED
    assert await mqtt.subscribe(ME + "claim/response", qos=1) == 1
    await mqtt.publish(ME + "claim", json.dumps({"secretKey": "m"}), qos=1)
    topic, payload, _ = await mqtt.message()
    assert (topic, json.loads(payload)) == (ME + "claim/response", {"status": "SUCCESS"})
    assert calls == [("post_claim", f"walk-{t}") for t in ("http", "coap", "mqtt")]


async def test_an_over_long_key_is_refused_alike_everywhere(walk):
    """The one key-list rule: each transport answers it with its own 'bad request'."""
    running, tokens, coap, mqtt, calls = walk
    long_key = "k" * (MAX_KEY_LENGTH + 1)
    status, body = await running.get(f"/api/v1/{tokens['http']}/attributes?sharedKeys={long_key}")
    assert status == 400 and "at most" in body["message"]
    response = await coap.get(f"/api/v1/{tokens['coap']}/attributes", uri_query=[f"sharedKeys={long_key}"])
    assert response.code == Code.BAD_REQUEST and b"at most" in response.payload
    assert calls == [("read_attributes", "walk-http"), ("read_attributes", "walk-coap")]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.none(), st.text(max_size=600), st.lists(st.text(max_size=300), max_size=5),
                 st.integers(), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)))
def test_key_list_is_a_list_of_fitting_keys_or_a_bad_request(value):
    try:
        keys = key_list(value, "clientKeys")
    except BadRequest:
        return
    if value is None:
        assert keys is None
        return
    assert isinstance(keys, list) and all(isinstance(k, str) and len(k) <= MAX_KEY_LENGTH for k in keys)
    if isinstance(value, str):
        assert all(k and k == k.strip() for k in keys)
