"""The hub's MQTT server on the wire: the fuzz findings against the old amqtt engine
(each a regression test), limits, MQTT 5 reason codes and properties, QoS 2, and
"acknowledged means committed". Raw sockets (tests/mqtt_wire.py), so each test sees
exactly the bytes the server sends."""

from __future__ import annotations

import asyncio
import json
import logging
import struct

import pytest

from gridlinks.core.storage.models import TimeseriesValue
from tests.mqtt_wire import (
    CONNECT,
    PUBACK,
    PUBCOMP,
    PUBLISH,
    PUBREC,
    PUBREL,
    SUBSCRIBE,
    UNSUBACK,
    UNSUBSCRIBE,
    MqttWire,
    _str,
    packet,
    properties,
)
from tests.support import hub_config, start_hub, stop_hub, with_mqtt_ports

TELEMETRY = "v1/devices/me/telemetry"


@pytest.fixture
async def hub(tmp_path):
    running = with_mqtt_ports(await start_hub(hub_config(tmp_path / "data", mqtt={
        "provision_close_delay_s": 0.2, "connect_timeout_s": 1.0, "receive_maximum": 20,
        "max_packet_size": 65_536 + 1024, "max_connections": 50})))
    try:
        yield running
    finally:
        await stop_hub(running)


async def device(hub, name: str) -> tuple[str, str]:
    status, body = await hub.provision(deviceName=name, provisionDeviceKey=hub.key, provisionDeviceSecret=hub.secret)
    assert status == 200 and body["status"] == "SUCCESS", body
    return body["credentialsValue"], body["deviceId"]


async def stored(device_id: str, key: str) -> list:
    rows = await TimeseriesValue.filter(device_id=device_id, key=key).values_list("boxed", flat=True)
    return sorted(b["v"] for b in rows)


def no_tracebacks(caplog) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


# -- fuzz findings (each hung a session in the amqtt engine) -------------------------------------

@pytest.mark.parametrize("level", [4, 5])
@pytest.mark.parametrize("topic", ["+", "#", "v1/devices/+/telemetry", "/provision/#"])
async def test_publish_to_a_wildcard_topic_closes(hub, caplog, level, topic):
    client, rc = await MqttWire.connect(hub.mqtt_port, username="provision", level=level)
    assert rc == 0
    client.writer.write(client.publish_bytes(topic, b"{}", qos=0))
    assert await client.closed_by_server()
    if level == 5:
        assert client.disconnect is not None and client.disconnect[0] in (0x81, 0x82)
    await client.close()
    no_tracebacks(caplog)


@pytest.mark.parametrize("level", [4, 5])
@pytest.mark.parametrize("kind", ["subscribe", "publish"])
async def test_zero_length_subscribe_or_publish_closes(hub, caplog, level, kind):
    client, _ = await MqttWire.connect(hub.mqtt_port, username="provision", level=level)
    client.writer.write(packet(SUBSCRIBE, 2, b"") if kind == "subscribe" else packet(PUBLISH, 0, b""))
    assert await client.closed_by_server()
    await client.close()
    no_tracebacks(caplog)


async def test_silent_session_closed_after_keep_alive(hub):
    """Keep alive 1 s, then silence: closed by the server (1.5x), well before our bound."""
    client, rc = await MqttWire.connect(hub.mqtt_port, username="provision", keep_alive=1)
    assert rc == 0
    assert await client.closed_by_server(timeout=10)
    await client.close()


async def test_pings_keep_a_session_open(hub):
    client, _ = await MqttWire.connect(hub.mqtt_port, username="provision", keep_alive=1)
    for _ in range(4):
        client.writer.write(packet(12, 0, b""))  # PINGREQ
        kind, _ = await client.ack()
        assert kind == 13  # PINGRESP
        await asyncio.sleep(0.5)
    assert not client.eof.is_set()
    await client.close()


@pytest.mark.parametrize("level", [4, 5])
async def test_huge_publish_refused_from_its_header(hub, level):
    """A 50 MB PUBLISH: the connection is closed after its fixed header, long before the
    client could have sent the body (the old engine read it all into memory)."""
    token, _ = await device(hub, f"huge-{level}")
    client, _ = await MqttWire.connect(hub.mqtt_port, username=token, level=level)
    size = 50 * 1024 * 1024
    head = bytes([PUBLISH << 4]) + _varint(size) + _str(TELEMETRY)
    client.writer.write(head)
    sent = len(head)
    chunk = b"x" * 65_536
    with pytest.raises((ConnectionError, OSError)):
        while sent < size:  # the server hangs up; writing then fails long before 50 MB
            client.writer.write(chunk)
            await asyncio.wait_for(client.writer.drain(), 10)
            sent += len(chunk)
            if client.eof.is_set():
                raise ConnectionResetError("closed by the server")
    assert sent < size
    assert await client.closed_by_server()
    if level == 5:
        assert client.disconnect == (0x95, {}) or client.disconnect is None  # sent first, maybe unread
    await client.close()


def _varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n % 128, n // 128
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


async def test_garbage_and_truncated_packets_never_log_a_traceback(hub, caplog):
    inputs = [b"\x00\x00", b"\xff\xff\xff\xff\xff", packet(CONNECT, 0, b"\x00\x04MQTT\x05"),
              packet(CONNECT, 0, _str("MQTT") + bytes([4, 0x02]) + b"\x00\x3c" + _str("a"))
              + b"\x30\xff\xff\xff\xff\x7f",
              packet(CONNECT, 0, _str("MQTT") + bytes([5, 0x02]) + b"\x00\x3c" + b"\x05\x99\x00" + _str("a"))]
    for data in inputs:
        client = await MqttWire.open(hub.mqtt_port)
        client.writer.write(data)
        assert await client.closed_by_server()
        await client.close()
    no_tracebacks(caplog)


async def test_tls_listener_silent_or_garbage_is_closed(tmp_path, caplog):
    running = with_mqtt_ports(await start_hub(hub_config(tmp_path / "data", mqtt={"tls_handshake_timeout_s": 0.5})))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", running.mqtts_port)  # no handshake at all
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", running.mqtts_port)
        writer.write(packet(CONNECT, 0, b"\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"))  # MQTT, not TLS
        await asyncio.wait_for(reader.read(), 10)  # (a TLS alert, maybe) and the end of the stream
        assert reader.at_eof()
        writer.close()
        cert = running.hub.settings.data_dir / "tls" / "server.pem"
        import ssl

        ctx = ssl.create_default_context(cafile=str(cert))
        client, rc = await MqttWire.connect(running.mqtts_port, username="provision", level=5, ssl=ctx,
                                            server_hostname="localhost")
        assert rc == 0  # and MQTT 5 over TLS
        await client.close()
    finally:
        await stop_hub(running)
    no_tracebacks(caplog)


# -- acknowledged means committed, QoS 2, ordering -------------------------------------------------

@pytest.mark.parametrize("level", [4, 5])
async def test_puback_means_the_row_is_stored(hub, level):
    token, device_id = await device(hub, f"acked-{level}")
    client, _ = await MqttWire.connect(hub.mqtt_port, username=token, level=level)
    for i in range(30):
        assert await client.publish(TELEMETRY, json.dumps({"n": i}), qos=1) == 0
        assert await stored(device_id, "n") == list(range(i + 1))  # no waiting: it is there
    await client.close()


async def test_pipelined_qos1_acknowledged_in_order_after_commit(hub):
    token, device_id = await device(hub, "pipelined")
    client, _ = await MqttWire.connect(hub.mqtt_port, username=token)
    client.writer.write(b"".join(client.publish_bytes(TELEMETRY, json.dumps({"p": i}), qos=1, packet_id=i + 1)
                                 for i in range(200)))  # 10x Receive Maximum, without waiting
    ids = []
    for _ in range(200):
        kind, body = await client.ack()
        assert kind == PUBACK
        ids.append(struct.unpack("!H", body[:2])[0])
    assert ids == list(range(1, 201))
    assert await stored(device_id, "p") == list(range(200))
    await client.close()


@pytest.mark.parametrize("level", [4, 5])
async def test_qos2_exactly_once(hub, level):
    token, device_id = await device(hub, f"qos2-{level}")
    client, _ = await MqttWire.connect(hub.mqtt_port, username=token, level=level)
    client.writer.write(client.publish_bytes(TELEMETRY, '{"q2": 1}', qos=2, packet_id=7))
    kind, body = await client.ack()
    assert kind == PUBREC and body[:2] == b"\x00\x07"
    assert await stored(device_id, "q2") == [1]  # PUBREC only after the commit
    client.writer.write(client.publish_bytes(TELEMETRY, '{"q2": 1}', qos=2, packet_id=7, dup=True))  # resent
    kind, _ = await client.ack()
    assert kind == PUBREC
    client.writer.write(packet(PUBREL, 2, b"\x00\x07"))
    kind, body = await client.ack()
    assert kind == PUBCOMP and body[:2] == b"\x00\x07"
    assert await stored(device_id, "q2") == [1]  # handled once
    await client.close()


# -- MQTT 5 --------------------------------------------------------------------------------------------

async def test_v5_connack_properties_and_assigned_client_id(hub):
    client, rc = await MqttWire.connect(hub.mqtt_port, username="provision", level=5, keep_alive=0,
                                        props={"session_expiry_interval": 300, "receive_maximum": 5})
    assert rc == 0
    props = client.connack
    assert props["assigned_client_identifier"].startswith("gl-")
    assert props["session_expiry_interval"] == 0  # no offline state
    assert props["server_keep_alive"] == 3600  # keep alive 0 is held to mqtt.max_keep_alive_s
    assert props["receive_maximum"] == 20 and props["maximum_packet_size"] == 65_536 + 1024
    assert props["topic_alias_maximum"] == 16 and props["retain_available"] == 0
    await client.close()


async def test_v5_connack_refusals(hub):
    token, _ = await device(hub, "v5-refusals")
    assert (await MqttWire.connect(hub.mqtt_port, username="no-such-token", level=5))[1] == 0x86
    assert (await MqttWire.connect(hub.mqtt_port, level=5))[1] == 0x87
    assert (await MqttWire.connect(hub.mqtt_port, username=token, level=5,
                                   props={"authentication_method": "SCRAM-SHA-1"}))[1] == 0x8C
    assert (await MqttWire.connect(hub.mqtt_port, username=token, level=4))[1] == 0


async def test_max_connections(hub):
    held = []
    for _ in range(50):
        client, rc = await MqttWire.connect(hub.mqtt_port, username="provision")
        assert rc == 0
        held.append(client)
    assert (await MqttWire.connect(hub.mqtt_port, username="provision", level=5))[1] == 0x97
    assert (await MqttWire.connect(hub.mqtt_port, username="provision", level=4))[1] == 3  # server unavailable
    await held.pop().close()
    for _ in range(100):  # bounded: the slot frees once the server saw the close
        client, rc = await MqttWire.connect(hub.mqtt_port, username="provision")
        if rc == 0:
            held.append(client)
            break
        await asyncio.sleep(0.05)
    assert rc == 0
    for client in held:
        await client.close()


async def test_v5_publish_not_allowed(hub):
    token, device_id = await device(hub, "v5-acl")
    client, _ = await MqttWire.connect(hub.mqtt_port, username=token, level=5)
    assert await client.publish("v1/devices/other/telemetry", "{}", qos=1) == 0x87  # refused, session goes on
    assert await client.publish(TELEMETRY, '{"after": 1}', qos=1) == 0
    assert await client.publish(TELEMETRY, "not json", qos=1) == 0x99  # payload format invalid
    assert await client.subscribe("v1/devices/+/attributes") == 0x87
    assert await client.subscribe("v1/devices/me/attributes", qos=1) == 1
    await client.publish("v1/devices/other/telemetry", "{}", qos=0)  # nothing to answer: DISCONNECT
    assert await client.closed_by_server()
    assert client.disconnect[0] == 0x87
    await client.close()


async def test_v5_restricted_session_bad_subscribe_disconnects(hub):
    client, _ = await MqttWire.connect(hub.mqtt_port, username="provision", level=5)
    assert await client.subscribe("v1/devices/me/attributes") in (0x87, None)
    assert await client.closed_by_server()
    assert client.disconnect[0] == 0x87
    await client.close()


async def test_v5_topic_aliases(hub):
    token, device_id = await device(hub, "alias")
    client, _ = await MqttWire.connect(hub.mqtt_port, username=token, level=5)
    assert await client.publish(TELEMETRY, '{"a": 1}', qos=1, props={"topic_alias": 3}) == 0
    assert await client.publish("", '{"a": 2}', qos=1, props={"topic_alias": 3}) == 0
    assert await stored(device_id, "a") == [1, 2]
    await client.publish("", '{"a": 3}', qos=0, props={"topic_alias": 17})  # over topic_alias_maximum
    assert await client.closed_by_server()
    assert client.disconnect[0] == 0x94
    await client.close()
    client, _ = await MqttWire.connect(hub.mqtt_port, username=token, level=5)
    await client.publish("", '{"a": 4}', qos=0, props={"topic_alias": 2})  # never set
    assert await client.closed_by_server()
    assert client.disconnect[0] == 0x82
    await client.close()


async def test_v5_receive_maximum_exceeded(hub):
    token, _ = await device(hub, "flood")
    client, _ = await MqttWire.connect(hub.mqtt_port, username=token, level=5)
    client.writer.write(b"".join(client.publish_bytes(TELEMETRY, '{"f": 1}', qos=1) for _ in range(200)))
    assert await client.closed_by_server()
    assert client.disconnect[0] == 0x93
    await client.close()


async def test_v5_request_response_provisioning(hub):
    client, _ = await MqttWire.connect(hub.mqtt_port, username="provision", level=5)
    assert await client.subscribe("/provision/response", qos=1) == 1
    body = {"deviceName": "rr-1", "provisionDeviceKey": hub.key, "provisionDeviceSecret": hub.secret}
    await client.publish("/provision/request", json.dumps(body), qos=1,
                         props={"response_topic": "/provision/response", "correlation_data": b"\x01corr"})
    topic, payload, qos, props = await client.message()
    assert topic == "/provision/response" and json.loads(payload)["status"] == "SUCCESS"
    assert props["correlation_data"] == b"\x01corr"
    await client.close()


async def test_v5_attribute_request_answered_on_response_topic(hub):
    token, device_id = await device(hub, "rr-attrs")
    await hub.admin("POST", f"/api/plugins/telemetry/DEVICE/{device_id}/attributes/SHARED_SCOPE", {"mode": "eco"})
    client, _ = await MqttWire.connect(hub.mqtt_port, username=token, level=5)
    assert await client.subscribe("v1/devices/me/inbox/+", qos=1) == 1
    await client.publish("v1/devices/me/attributes/request/9", '{"sharedKeys": "mode"}', qos=1,
                         props={"response_topic": "v1/devices/me/inbox/a", "correlation_data": b"42"})
    topic, payload, _, props = await client.message()
    assert topic == "v1/devices/me/inbox/a" and json.loads(payload) == {"shared": {"mode": "eco"}}
    assert props["correlation_data"] == b"42"
    # without the properties: the fixed topic, as in 3.1.1
    assert await client.subscribe("v1/devices/me/attributes/response/+") == 0
    await client.publish("v1/devices/me/attributes/request/10", '{"sharedKeys": "mode"}')
    topic, _, _, props = await client.message()
    assert topic == "v1/devices/me/attributes/response/10" and "correlation_data" not in props
    await client.close()


async def test_v5_unsubscribe_and_auth_refused(hub):
    token, _ = await device(hub, "v5-unsub")
    client, _ = await MqttWire.connect(hub.mqtt_port, username=token, level=5)
    assert await client.subscribe("v1/devices/me/attributes") == 0
    client.writer.write(packet(UNSUBSCRIBE, 2, b"\x00\x09" + properties(None) + _str("v1/devices/me/attributes")
                               + _str("v1/devices/me/never")))
    kind, body = await client.ack()
    assert kind == UNSUBACK and body[:2] == b"\x00\x09" and body[-2:] == b"\x00\x11"
    client.writer.write(packet(15, 0, b""))  # AUTH without an agreed method
    assert await client.closed_by_server()
    assert client.disconnect[0] == 0x8C
    await client.close()


async def test_v5_client_maximum_packet_size_respected(hub):
    """A reply larger than the client's Maximum Packet Size is not sent (MQTT-3.1.2-24)."""
    token, device_id = await device(hub, "small-client")
    await hub.admin("POST", f"/api/plugins/telemetry/DEVICE/{device_id}/attributes/SHARED_SCOPE",
                    {"big": "x" * 500})
    client, _ = await MqttWire.connect(hub.mqtt_port, username=token, level=5, props={"maximum_packet_size": 200})
    assert await client.subscribe("v1/devices/me/attributes/response/+") == 0
    await client.publish("v1/devices/me/attributes/request/1", '{"sharedKeys": "big"}')
    await client.publish("v1/devices/me/attributes/request/2", '{"sharedKeys": "none"}')
    topic, _, _, _ = await client.message()
    assert topic == "v1/devices/me/attributes/response/2"  # the first (too big) was dropped
    await client.close()


# -- fuzzing the live server ----------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_FIRST_BYTES = st.sampled_from([0x10, 0x30, 0x32, 0x34, 0x36, 0x3B, 0x40, 0x50, 0x62, 0x70, 0x82, 0x80, 0xA2,
                                0xC0, 0xE0, 0xF0, 0x20, 0x00, 0xFF])
_PACKETS = st.one_of(
    st.binary(max_size=64),
    st.builds(lambda first, body: bytes([first]) + _varint(len(body)) + body, _FIRST_BYTES, st.binary(max_size=80)),
    st.builds(lambda topic, payload, qos: packet(PUBLISH, qos << 1, _str(topic) + (b"\x00\x01" if qos else b"")
                                                 + payload),
              st.text(max_size=20), st.binary(max_size=40), st.integers(0, 3)),
    st.builds(lambda topic, qos: packet(SUBSCRIBE, 2, b"\x00\x05" + _str(topic) + bytes([qos])),
              st.text(max_size=20), st.integers(0, 255)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(level=st.sampled_from([4, 5]), login=st.sampled_from(["provision", "token"]),
       inputs=st.lists(_PACKETS, min_size=1, max_size=6))
def test_fuzzed_input_never_wedges_the_server(fuzz_hub, caplog, level, login, inputs):
    """Random and half-valid packets after a CONNECT: no traceback, and (checked once at
    the end) no connection or task left behind once the clients are gone."""
    hub, token, loop = fuzz_hub

    async def one() -> None:
        client, rc = await MqttWire.connect(hub.mqtt_port, username=token if login == "token" else "provision",
                                            level=level)
        assert rc == 0
        client.writer.write(b"".join(inputs) + packet(12, 0, b""))
        await asyncio.sleep(0.02)
        await client.close()

    loop.run_until_complete(one())
    no_tracebacks(caplog)


@pytest.fixture
def fuzz_hub(tmp_path_factory):
    """One hub for every fuzz example (hypothesis runs them in one test call); at the end,
    every connection must be gone and no handler task left running."""
    loop = asyncio.new_event_loop()
    running = loop.run_until_complete(start_hub(hub_config(tmp_path_factory.mktemp("fuzz") / "data",
                                                           mqtt={"provision_close_delay_s": 0.1})))
    with_mqtt_ports(running)
    token = loop.run_until_complete(device(running, "fuzzed"))[0]
    try:
        yield running, token, loop
        server = running.hub.transports.get("mqtt").server

        async def drained() -> bool:
            for _ in range(100):
                if not server.connections and not server.workers:
                    return True
                await asyncio.sleep(0.1)
            return False

        assert loop.run_until_complete(drained()), (len(server.connections), len(server.workers))
        client, rc = loop.run_until_complete(MqttWire.connect(running.mqtt_port, username=token, level=5))
        assert rc == 0  # and the hub still serves
        loop.run_until_complete(client.close())
    finally:
        loop.run_until_complete(stop_hub(running))
        loop.close()


# -- pushes are bus observers -----------------------------------------------------------------

async def test_a_device_that_never_acknowledges_pushes_does_not_hold_up_the_admin(hub):
    """Shared-attribute pushes observe the bus (``blocking=False``): a device whose MQTT 5
    Receive Maximum of 1 is used up by an unacknowledged push does not stop the admin's
    next attribute change from being answered (it hung before); once the device
    acknowledges, it gets every push, in the order the changes were made."""
    token, device_id = await device(hub, "slow-acker")
    client, _ = await MqttWire.connect(hub.mqtt_port, username=token, level=5, props={"receive_maximum": 1})
    client.auto_ack = False
    assert await client.subscribe("v1/devices/me/attributes", qos=1) == 1
    url = f"/api/plugins/telemetry/DEVICE/{device_id}/attributes/SHARED_SCOPE"
    for n in range(5):
        status, _ = await asyncio.wait_for(hub.admin("POST", url, {"n": n}), 30)
        assert status == 200
    topic, payload, qos, _ = await client.message()
    assert (topic, json.loads(payload), qos) == ("v1/devices/me/attributes", {"n": 0}, 1)
    client.auto_ack = True
    client.writer.write(packet(PUBACK, 0, b"\x00\x01"))  # the hub's first packet id in a session is 1
    received = [json.loads((await client.message())[1])["n"] for _ in range(4)]
    assert received == [1, 2, 3, 4]
    await client.close()
