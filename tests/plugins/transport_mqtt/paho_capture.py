"""Record the exact bytes a paho-mqtt 2.x client sends, for byte-for-byte codec tests.

A raw asyncio TCP server on 127.0.0.1 (ephemeral port) answers just enough for the client to
run its script (CONNACK, PUBACK, PUBREC/PUBCOMP, SUBACK, UNSUBACK, PINGRESP) and records every
byte received. It frames packets from the fixed header itself, without the codec under test,
so a codec bug cannot hide in the recording.

    raw = capture(MQTTv5)   # bytes of CONNECT ... DISCONNECT exactly as paho sent them
"""

from __future__ import annotations

import asyncio
import threading

from paho.mqtt.client import CallbackAPIVersion, Client, MQTTv5, MQTTv311
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

TIMEOUT = 10.0

# What the script sends (the tests assert these fields after decoding).
CLIENT_ID = "paho-capture-1"
USERNAME, PASSWORD = "device-user", "s3cret"
WILL_TOPIC, WILL_PAYLOAD = "devices/paho/will", b"offline"
KEEP_ALIVE = 30
USER_PROPERTIES = [("region", "eu-west"), ("fw", "1.2.3")]
SUBSCRIPTIONS = [("v1/devices/me/attributes", 1), ("v1/devices/me/rpc/request/+", 2),
                 ("cmd/#", 0)]
PUBLISHES = [  # topic, payload, qos
    ("v1/devices/me/telemetry", b'{"temperature":21.5}', 0),
    ("v1/devices/me/telemetry", b'{"humidity":40}', 1),
    ("v1/devices/me/attributes", b'{"fw":"1.2.3"}', 2),
]
REQUEST_TOPIC, RESPONSE_TOPIC = "/provision/request", "/provision/response"
CORRELATION = b"\x00\x01corr-42"


def _frames(buffer: bytearray):
    """Split complete packets off the front of ``buffer``: yields (first byte, body)."""
    while len(buffer) >= 2:
        length, shift, index = 0, 0, 1
        while True:
            if index >= len(buffer):
                return
            byte = buffer[index]
            length |= (byte & 0x7F) << shift
            shift += 7
            index += 1
            if byte < 0x80:
                break
        if len(buffer) < index + length:
            return
        first, body = buffer[0], bytes(buffer[index:index + length])
        del buffer[:index + length]
        yield first, body


def _answer(first: int, body: bytes, v5: bool) -> bytes | None:
    ptype = first >> 4
    if ptype == 1:  # CONNECT -> CONNACK (v5: Topic Alias Maximum 10, Receive Maximum 20)
        return b"\x20\x09\x00\x00\x06\x22\x00\x0a\x21\x00\x14" if v5 else b"\x20\x02\x00\x00"
    if ptype == 3:  # PUBLISH: acknowledge QoS 1 and 2 by packet identifier
        qos = (first >> 1) & 3
        if not qos:
            return None
        topic_length = int.from_bytes(body[:2], "big")
        packet_id = body[2 + topic_length:4 + topic_length]
        return (b"\x40\x02" if qos == 1 else b"\x50\x02") + packet_id
    if ptype == 6:  # PUBREL -> PUBCOMP
        return b"\x70\x02" + body[:2]
    if ptype == 8:  # SUBSCRIBE -> SUBACK granting what was asked
        pos = 2
        if v5:
            props_length, shift = 0, 0
            while True:
                byte = body[pos]
                pos += 1
                props_length |= (byte & 0x7F) << shift
                shift += 7
                if byte < 0x80:
                    break
            pos += props_length
        granted = bytearray()
        while pos < len(body):
            pos += 2 + int.from_bytes(body[pos:pos + 2], "big")
            granted.append(body[pos] & 0x03)
            pos += 1
        ack = body[:2] + (b"\x00" if v5 else b"") + bytes(granted)
        return b"\x90" + bytes((len(ack),)) + ack
    if ptype == 10:  # UNSUBSCRIBE -> UNSUBACK
        return b"\xb0\x04" + body[:2] + b"\x00\x00" if v5 else b"\xb0\x02" + body[:2]
    if ptype == 12:
        return b"\xd0\x00"
    return None


def _run_client(port: int, protocol: int) -> None:
    """The paho 2.x script: connect (will, credentials, properties), subscribe, publish QoS
    0/1/2 (v5: topic alias, response topic, correlation data, user properties), unsubscribe,
    disconnect. Each step waits for its acknowledgement."""
    v5 = protocol == MQTTv5
    connected, subscribed, unsubscribed = threading.Event(), threading.Event(), threading.Event()
    client = Client(CallbackAPIVersion.VERSION2, client_id=CLIENT_ID, protocol=protocol)
    client.on_connect = lambda *args: connected.set()
    client.on_subscribe = lambda *args: subscribed.set()
    client.on_unsubscribe = lambda *args: unsubscribed.set()
    client.username_pw_set(USERNAME, PASSWORD)
    will_props = connect_props = None
    if v5:
        will_props = Properties(PacketTypes.WILLMESSAGE)
        will_props.WillDelayInterval = 15
        will_props.MessageExpiryInterval = 600
        will_props.ContentType = "text/plain"
        connect_props = Properties(PacketTypes.CONNECT)
        connect_props.SessionExpiryInterval = 3600
        connect_props.ReceiveMaximum = 32
        connect_props.TopicAliasMaximum = 8
        connect_props.MaximumPacketSize = 65536
        connect_props.UserProperty = USER_PROPERTIES
    client.will_set(WILL_TOPIC, WILL_PAYLOAD, qos=1, retain=True, properties=will_props)
    connect_args = {"clean_start": True, "properties": connect_props} if v5 else {}
    client.connect("127.0.0.1", port, keepalive=KEEP_ALIVE, **connect_args)
    client.loop_start()
    try:
        assert connected.wait(TIMEOUT), "no CONNACK"
        if v5:
            sub_props = Properties(PacketTypes.SUBSCRIBE)
            sub_props.SubscriptionIdentifier = 7
            sub_props.UserProperty = USER_PROPERTIES[:1]
            client.subscribe([(topic, SubscribeOptions(qos, noLocal=(qos == 1),
                                                       retainAsPublished=(qos == 2),
                                                       retainHandling=qos))
                              for topic, qos in SUBSCRIPTIONS], properties=sub_props)
        else:
            client.subscribe(SUBSCRIPTIONS)
        assert subscribed.wait(TIMEOUT), "no SUBACK"
        for index, (topic, payload, qos) in enumerate(PUBLISHES):
            props = None
            if v5:
                props = Properties(PacketTypes.PUBLISH)
                props.TopicAlias = 1
                props.UserProperty = USER_PROPERTIES
                if index == 0:
                    props.PayloadFormatIndicator = 1
                    props.ContentType = "application/json"
                    props.MessageExpiryInterval = 60
            client.publish(topic, payload, qos, properties=props).wait_for_publish(TIMEOUT)
        if v5:  # the alias set above, then a request/response exchange
            props = Properties(PacketTypes.PUBLISH)
            props.TopicAlias = 1
            client.publish("", b'{"again":true}', 1, properties=props).wait_for_publish(TIMEOUT)
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = RESPONSE_TOPIC
            props.CorrelationData = CORRELATION
            client.publish(REQUEST_TOPIC, b'{"provisionDeviceKey":"k"}', 1,
                           properties=props).wait_for_publish(TIMEOUT)
        else:
            client.publish(REQUEST_TOPIC, b'{"provisionDeviceKey":"k"}', 1
                           ).wait_for_publish(TIMEOUT)
        client.unsubscribe(["cmd/#"])
        assert unsubscribed.wait(TIMEOUT), "no UNSUBACK"
        if v5:
            disconnect_props = Properties(PacketTypes.DISCONNECT)
            disconnect_props.SessionExpiryInterval = 0
            client.disconnect(ReasonCode(PacketTypes.DISCONNECT, identifier=0x04),
                              disconnect_props)
        else:
            client.disconnect()
    finally:
        client.loop_stop()


async def _capture(protocol: int) -> bytes:
    received = bytearray()
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pending = bytearray()
        try:
            while chunk := await reader.read(65536):
                received.extend(chunk)
                pending.extend(chunk)
                for first, body in _frames(pending):
                    answer = _answer(first, body, protocol == MQTTv5)
                    if answer:
                        writer.write(answer)
                await writer.drain()
        except ConnectionError:
            pass  # the recording so far is what the test gets; it will say what is missing
        finally:
            writer.close()
            done.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await asyncio.wait_for(asyncio.to_thread(_run_client, port, protocol), TIMEOUT * 3)
        await asyncio.wait_for(done.wait(), TIMEOUT)
    finally:
        server.close()
        await server.wait_closed()
    return bytes(received)


def capture(protocol: int) -> bytes:
    """Bytes paho-mqtt 2.x sent for the script above (``MQTTv311`` or ``MQTTv5``)."""
    return asyncio.run(_capture(protocol))


__all__ = ["capture", "MQTTv5", "MQTTv311"]
