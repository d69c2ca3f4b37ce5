"""paho-mqtt 2.x in MQTT 3.1.1 and MQTT 5 against the hub over real sockets: logins,
telemetry at QoS 0/1/2 (acknowledged means committed), attribute request/response with and
without MQTT 5 request/response properties, incoming topic aliases, the packet-size limit
(0x95), refusals (CONNACK 0x86 / 5, SUBACK 0x87)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.plugins.transport_mqtt.paho_client import V5, V311, Paho, properties, publish_properties
from tests.support import hub_config, start_hub, stop_hub, with_mqtt_ports

TELEMETRY = "v1/devices/me/telemetry"
ATTRIBUTES = "v1/devices/me/attributes"
SUCCESS, NOT_AUTHORIZED, BAD_USER_OR_PASSWORD, PACKET_TOO_LARGE = 0x00, 0x87, 0x86, 0x95
PAHO_V311_CONNACK_5 = 135  # paho 2.x reports 3.1.1 CONNACK return code 5 as reason 135
SUBACK_V311_FAILURE = 0x80
VERSIONS = pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5"])


async def _device(hub, name: str) -> tuple[str, str]:
    status, body = await hub.provision(deviceName=name, provisionDeviceKey=hub.key, provisionDeviceSecret=hub.secret)
    assert status == 200 and body["status"] == "SUCCESS", body
    return body["deviceId"], body["credentialsValue"]


async def _latest(hub, device_id: str) -> dict:
    status, series = await hub.admin("GET", f"/api/plugins/telemetry/DEVICE/{device_id}/values/timeseries")
    assert status == 200, series
    return {key: values[0]["value"] for key, values in series.items()}


async def _eventually_latest(hub, device_id: str, keys: set[str]) -> dict:
    """QoS 0 is fire-and-forget: wait (bounded) until its rows are there."""
    for _ in range(100):
        latest = await _latest(hub, device_id)
        if keys <= set(latest):
            return latest
        await asyncio.sleep(0.1)
    return await _latest(hub, device_id)


async def _connected(hub, version: int, token: str, **kw) -> Paho:
    client = Paho(version, username=token, **kw)
    assert await client.connect(hub.mqtt_port) == SUCCESS
    return client


@VERSIONS
async def test_telemetry_qos_0_1_2_stored(mqtt_hub, version):
    hub = mqtt_hub
    device_id, token = await _device(hub, f"paho-tele-{version}")
    client = await _connected(hub, version, token)
    try:
        # QoS 1 / 2: once PUBACK / PUBCOMP is back, the row is committed (no waiting).
        assert await client.publish(TELEMETRY, json.dumps({"q1": 1.5}), qos=1) == SUCCESS
        assert (await _latest(hub, device_id)).get("q1") == 1.5
        assert await client.publish(TELEMETRY, json.dumps([{"ts": 1000, "values": {"q2": 2}}]), qos=2) == SUCCESS
        assert (await _latest(hub, device_id)).get("q2") == 2
        await client.publish(TELEMETRY, json.dumps({"q0": "zero"}), qos=0)
        assert (await _eventually_latest(hub, device_id, {"q0"}))["q0"] == "zero"
    finally:
        await client.close()


@VERSIONS
async def test_attribute_request_on_the_fixed_topic(mqtt_hub, version):
    hub = mqtt_hub
    device_id, token = await _device(hub, f"paho-attr-{version}")
    await hub.admin("POST", f"/api/plugins/telemetry/DEVICE/{device_id}/attributes/SHARED_SCOPE", {"target": 7})
    client = await _connected(hub, version, token)
    try:
        assert await client.publish(ATTRIBUTES, json.dumps({"fw": "1.2"}), qos=1) == SUCCESS
        assert await client.subscribe("v1/devices/me/attributes/response/+", qos=1) == 1
        await client.publish("v1/devices/me/attributes/request/5", '{"clientKeys": "fw", "sharedKeys": "target"}',
                             qos=1)
        reply = await client.message()
        assert reply.topic == "v1/devices/me/attributes/response/5", reply
        assert json.loads(reply.payload) == {"client": {"fw": "1.2"}, "shared": {"target": 7}}
        assert "CorrelationData" not in reply.properties
    finally:
        await client.close()


async def test_v5_attribute_request_answered_on_response_topic_with_correlation_data(mqtt_hub):
    hub = mqtt_hub
    device_id, token = await _device(hub, "paho-rr")
    await hub.admin("POST", f"/api/plugins/telemetry/DEVICE/{device_id}/attributes/SHARED_SCOPE", {"target": 9})
    client = await _connected(hub, V5, token)
    inbox = "v1/devices/me/inbox/attributes"
    try:
        assert await client.subscribe(inbox, qos=1) == 1
        assert await client.subscribe("v1/devices/me/attributes/response/+", qos=1) == 1
        props = publish_properties(ResponseTopic=inbox, CorrelationData=b"\x00corr-1\xff")
        await client.publish("v1/devices/me/attributes/request/1", '{"sharedKeys": "target"}', qos=1, props=props)
        reply = await client.message()
        assert (reply.topic, json.loads(reply.payload)) == (inbox, {"shared": {"target": 9}}), reply
        assert reply.properties.get("CorrelationData") == b"\x00corr-1\xff", reply.properties
        # Without the properties the fixed topic answers; and the request above was answered
        # once, on its response topic only (this reply is the next message).
        await client.publish("v1/devices/me/attributes/request/2", '{"sharedKeys": "target"}', qos=1)
        reply = await client.message()
        assert (reply.topic, json.loads(reply.payload)) == ("v1/devices/me/attributes/response/2",
                                                            {"shared": {"target": 9}}), reply
    finally:
        await client.close()


async def test_v5_provisioning_request_response(mqtt_hub):
    hub = mqtt_hub
    client = Paho(V5, username="provision")
    assert await client.connect(hub.mqtt_port) == SUCCESS
    try:
        assert await client.subscribe("/provision/response", qos=1) == 1
        body = {"deviceName": "paho-v5-provisioned", "provisionDeviceKey": hub.key, "provisionDeviceSecret": hub.secret}
        props = publish_properties(ResponseTopic="/provision/response", CorrelationData=b"prov-7")
        await client.publish("/provision/request", json.dumps(body), qos=1, props=props)
        reply = await client.message()
        answer = json.loads(reply.payload)
        assert reply.topic == "/provision/response" and answer["status"] == "SUCCESS", answer
        assert reply.properties.get("CorrelationData") == b"prov-7"
    finally:
        await client.close()
    status, device = await hub.admin("GET", f"/api/device/{answer['deviceId']}")
    assert status == 200 and device["name"] == "paho-v5-provisioned"


async def test_v5_incoming_topic_aliases(mqtt_hub):
    hub = mqtt_hub
    device_id, token = await _device(hub, "paho-alias")
    client = await _connected(hub, V5, token)
    try:
        assert client.connack_properties.get("TopicAliasMaximum", 0) >= 1, client.connack_properties
        # The first publish sets alias 1; the next ones carry only the alias (empty topic).
        assert await client.publish(TELEMETRY, '{"alias0": 0}', qos=1, props=publish_properties(TopicAlias=1)) == 0
        for i in range(1, 4):
            assert await client.publish("", json.dumps({f"alias{i}": i}), qos=1,
                                        props=publish_properties(TopicAlias=1)) == SUCCESS
        latest = await _latest(hub, device_id)
        assert {k: latest.get(k) for k in ("alias0", "alias1", "alias2", "alias3")} == {
            "alias0": 0, "alias1": 1, "alias2": 2, "alias3": 3}, latest
    finally:
        await client.close()


async def test_v5_unknown_topic_alias_is_a_protocol_error(mqtt_hub):
    """An alias-only PUBLISH whose alias was never set: DISCONNECT 0x82 (protocol error,
    MQTT-3.3.2-8 family), never a stored row or a hung session."""
    hub = mqtt_hub
    _, token = await _device(hub, "paho-alias-bad")
    client = await _connected(hub, V5, token)
    try:
        client.client.publish("", '{"x": 1}', qos=1, properties=publish_properties(TopicAlias=2))
        gone = await client.disconnected()
        assert gone.from_server and gone.reason in (0x82, 0x94), gone  # protocol error / topic alias invalid
    finally:
        await client.close()


@VERSIONS
async def test_too_large_packet_refused(tmp_path, version):
    """Over ``mqtt.max_packet_size``: v5 gets DISCONNECT 0x95 (packet too large), 3.1.1 a
    closed connection; CONNACK (v5) advertises the limit; the hub goes on serving others."""
    hub = with_mqtt_ports(await start_hub(hub_config(tmp_path / "data", mqtt={"max_packet_size": 1024})))
    try:
        _, token = await _device(hub, f"paho-big-{version}")
        client = await _connected(hub, version, token)
        if version == V5:
            assert client.connack_properties.get("MaximumPacketSize") == 1024, client.connack_properties
        client.client.publish(TELEMETRY, json.dumps({"blob": "x" * 4000}), qos=1)
        gone = await client.disconnected()
        if version == V5:
            assert gone.from_server and gone.reason == PACKET_TOO_LARGE, gone
        await client.close()
        other = await _connected(hub, version, token)
        assert await other.publish(TELEMETRY, '{"small": 1}', qos=1) == SUCCESS
        await other.close()
    finally:
        await stop_hub(hub)


@VERSIONS
async def test_wrong_token_refused(mqtt_hub, version):
    client = Paho(version, username="no-such-token")
    rc = await client.connect(mqtt_hub.mqtt_port)
    assert rc == (BAD_USER_OR_PASSWORD if version == V5 else PAHO_V311_CONNACK_5), rc


@VERSIONS
async def test_forbidden_subscription_refused(mqtt_hub, version):
    hub = mqtt_hub
    _, token = await _device(hub, f"paho-acl-{version}")
    client = await _connected(hub, version, token)
    try:
        for topic in ("v1/devices/other/attributes", "#", "$SYS/broker/uptime"):
            code = await client.subscribe(topic, qos=1)
            assert code == (NOT_AUTHORIZED if version == V5 else SUBACK_V311_FAILURE), (topic, code)
        assert await client.subscribe(ATTRIBUTES, qos=1) == 1  # the session is still usable
    finally:
        await client.close()


async def test_v5_forbidden_publish_gets_puback_0x87(mqtt_hub):
    hub = mqtt_hub
    _, token = await _device(hub, "paho-acl-pub")
    client = await _connected(hub, V5, token)
    try:
        assert await client.publish("v1/devices/other/telemetry", '{"x": 1}', qos=1) == NOT_AUTHORIZED
    finally:
        await client.close()


async def test_v5_assigned_client_identifier_and_server_limits(mqtt_hub):
    _, token = await _device(mqtt_hub, "paho-props")
    client = Paho(V5, client_id="", username=token)
    props = properties(1, SessionExpiryInterval=0, ReceiveMaximum=10, TopicAliasMaximum=0)  # 1: CONNECT
    assert await client.connect(mqtt_hub.mqtt_port, props) == SUCCESS
    try:
        assert client.connack_properties.get("AssignedClientIdentifier"), client.connack_properties
        assert client.connack_properties.get("ReceiveMaximum", 65535) >= 1
    finally:
        await client.close()
