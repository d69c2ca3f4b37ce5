"""Every packet type of MQTT 3.1.1 and 5 encodes and decodes back to itself, with every property
kind of the MQTT 5 table; streams decode identically however they are chunked."""

from __future__ import annotations

import pytest

from gridlinks.plugins.transport_mqtt import codec_properties
from gridlinks.plugins.transport_mqtt.codec import (
    MQTT_5,
    MQTT_311,
    Auth,
    ConnAck,
    Connect,
    Decoder,
    Disconnect,
    PingReq,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
    encode,
)

from .codec_helpers import connected

USER = [("region", "eu"), ("region", "us"), ("ünï", "çødé ✓")]

CONNECT_PROPS = {
    "session_expiry_interval": 3600, "receive_maximum": 20, "maximum_packet_size": 65536,
    "topic_alias_maximum": 10, "request_response_information": 1,
    "request_problem_information": 0, "authentication_method": "SCRAM-SHA-1",
    "authentication_data": b"\x00\x01\xff", "user_property": USER,
}
WILL_PROPS = {
    "will_delay_interval": 30, "payload_format_indicator": 1, "message_expiry_interval": 120,
    "content_type": "application/json", "response_topic": "r/t",
    "correlation_data": b"\x01\x02", "user_property": USER[:1],
}
CONNACK_PROPS = {
    "session_expiry_interval": 0, "receive_maximum": 65535, "maximum_qos": 1,
    "retain_available": 0, "maximum_packet_size": 1 << 20,
    "assigned_client_identifier": "auto-1", "topic_alias_maximum": 16,
    "reason_string": "welcome", "user_property": USER, "wildcard_subscription_available": 1,
    "subscription_identifier_available": 0, "shared_subscription_available": 0,
    "server_keep_alive": 45, "response_information": "resp/", "server_reference": "other:1883",
    "authentication_method": "m", "authentication_data": b"d",
}
PUBLISH_PROPS = {
    "payload_format_indicator": 0, "message_expiry_interval": 4294967295, "topic_alias": 65535,
    "response_topic": "/provision/response", "correlation_data": b"\x00" * 16,
    "user_property": USER, "content_type": "text/plain",
}
ACK_PROPS = {"reason_string": "because", "user_property": USER[:2]}


def client_packets(version: int) -> list:
    v5 = version == MQTT_5
    props = (lambda p: p) if v5 else (lambda p: {})
    return [
        Publish("v1/devices/me/telemetry", b'{"t":1}', 0),
        Publish("a/b", b"", 1, retain=True, packet_id=1, properties=props(PUBLISH_PROPS)),
        Publish("ü/✓", b"\x00\xff" * 300, 2, dup=True, packet_id=65535),
        Publish("x" * 200, b"y" * 20000, 1, packet_id=7),  # 3-byte remaining length
        PubAck(1), PubRec(2), PubRel(3), PubComp(4),
        PubAck(5, 0x10 if v5 else 0, props(ACK_PROPS)),
        PubRec(6, 0x80 if v5 else 0), PubRel(7, 0x92 if v5 else 0, props(ACK_PROPS)),
        PubComp(8, 0, props(ACK_PROPS)),
        Subscribe(10, [Subscription("a/+/c", 0), Subscription("#", 1),
                       Subscription("$share/g/t/#" if v5 else "s/#", 2,
                                    False, v5, 2 if v5 else 0),
                       Subscription("n/l", 1, v5, False, 1 if v5 else 0)],
                  props({"subscription_identifier": [268_435_455], "user_property": USER})),
        Unsubscribe(11, ["a/+/c", "#"], props({"user_property": USER})),
        PingReq(),
        Disconnect(0x04 if v5 else 0, props({"session_expiry_interval": 5,
                                             "reason_string": "bye", "user_property": USER,
                                             "server_reference": "s"})),
    ] + ([Auth(0x19, {"authentication_method": "m", "authentication_data": b"\x01",
                      "reason_string": "again", "user_property": USER}), Auth()] if v5 else [])


def server_packets(version: int) -> list:
    v5 = version == MQTT_5
    props = (lambda p: p) if v5 else (lambda p: {})
    return [
        ConnAck(False, 0), ConnAck(True, 0, props(CONNACK_PROPS)),
        ConnAck(False, 0x86 if v5 else 4, props({"reason_string": "no"})),
        Publish("t/1", b"hello", 0),
        Publish("", b"aliased", 1, packet_id=9,
                properties={"topic_alias": 3, "subscription_identifier": [1, 300, 268_435_455]})
        if v5 else Publish("t/2", b"q1", 1, packet_id=9),
        PubAck(1, 0x97 if v5 else 0, props(ACK_PROPS)), PubRec(2), PubRel(3), PubComp(4),
        SubAck(10, [0, 1, 2, 0x80] + ([0x87, 0xA2] if v5 else []), props(ACK_PROPS)),
        UnsubAck(11, [0, 0x11] if v5 else [], props(ACK_PROPS)),
        PingResp(),
    ] + ([Disconnect(0x8E, {"reason_string": "taken over", "server_reference": "h:1"}),
          Auth(0x18, {"authentication_method": "m"})] if v5 else [])


@pytest.mark.parametrize("version", [MQTT_311, MQTT_5])
def test_connect_round_trip(version):
    v5 = version == MQTT_5
    packets = [
        Connect(version, "dev-1", True, 60),
        Connect(version, "", True, 0, "user", b"secret\x00\xff",
                Will("last/will", b"gone", 2, True, WILL_PROPS if v5 else {}),
                CONNECT_PROPS if v5 else {}),
        Connect(version, "ü" * 100, False, 65535, None, None, Will("w", b"", 0, False)),
    ]
    if v5:  # a password without a user name is legal in MQTT 5 only
        packets.append(Connect(version, "c", True, 10, None, b"pw"))
    for packet in packets:
        decoder = Decoder()
        assert decoder.feed(encode(packet, version)) == [packet]
        assert decoder.version == version and decoder.buffered == 0


@pytest.mark.parametrize("version", [MQTT_311, MQTT_5])
def test_client_to_server_round_trip(version):
    packets = client_packets(version)
    decoder = connected(version)
    for packet in packets:
        assert decoder.feed(encode(packet, version)) == [packet], packet
    assert decoder.buffered == 0


@pytest.mark.parametrize("version", [MQTT_311, MQTT_5])
def test_server_to_client_round_trip(version):
    decoder = Decoder(client_version=version)
    for packet in server_packets(version):
        assert decoder.feed(encode(packet, version)) == [packet], packet


def test_every_property_is_exercised_by_a_round_trip():
    """The round trips above carry each of the 27 MQTT 5 properties at least once."""
    seen = set()
    for packet in client_packets(MQTT_5) + server_packets(MQTT_5):
        seen |= set(getattr(packet, "properties", ()))
    seen |= set(CONNECT_PROPS) | set(WILL_PROPS)
    assert seen == set(codec_properties.BY_NAME)


@pytest.mark.parametrize("version", [MQTT_311, MQTT_5])
def test_stream_fed_one_byte_at_a_time_decodes_identically(version):
    stream = encode(Connect(version, "c1"), version) + b"".join(
        encode(p, version) for p in client_packets(version))
    whole = Decoder().feed(stream)
    bytewise = Decoder()
    pieces = []
    for index in range(len(stream)):
        pieces += bytewise.feed(stream[index:index + 1])
        assert bytewise.buffered <= 20_300  # never more than the largest packet
    assert pieces == whole and len(whole) == len(client_packets(version)) + 1
    assert bytewise.buffered == 0


def test_fixed_byte_layouts():
    """A few packets against bytes written out from the spec, so both sides are not merely
    consistent with each other."""
    assert encode(ConnAck(True, 0), MQTT_311) == b"\x20\x02\x01\x00"
    assert encode(ConnAck(True, 0x86), MQTT_311) == b"\x20\x02\x00\x04"  # v5 code mapped
    assert encode(ConnAck(False, 0x84), MQTT_311) == b"\x20\x02\x00\x01"
    assert encode(ConnAck(False, 0x97), MQTT_311) == b"\x20\x02\x00\x03"
    assert encode(ConnAck(False, 0), MQTT_5) == b"\x20\x03\x00\x00\x00"
    assert encode(PubAck(0x1234), MQTT_5) == b"\x40\x02\x12\x34"
    assert encode(PubAck(1, 0x87), MQTT_5) == b"\x40\x03\x00\x01\x87"
    assert encode(PubRel(1), MQTT_311) == b"\x62\x02\x00\x01"
    assert encode(SubAck(1, [1, 0x87]), MQTT_311) == b"\x90\x04\x00\x01\x01\x80"
    assert encode(UnsubAck(1, [0]), MQTT_311) == b"\xb0\x02\x00\x01"
    assert encode(Disconnect(), MQTT_5) == b"\xe0\x00"
    assert encode(Disconnect(0x8E), MQTT_5) == b"\xe0\x01\x8e"
    assert encode(PingResp(), MQTT_5) == b"\xd0\x00"
    assert encode(Publish("a/b", b"hi", 1, packet_id=10), MQTT_311) == (
        b"\x32\x09\x00\x03a/b\x00\x0ahi")
    assert encode(Publish("a/b", b"hi", 0, properties={"topic_alias": 1}), MQTT_5) == (
        b"\x30\x0b\x00\x03a/b\x03\x23\x00\x01hi")
    assert encode(Connect(MQTT_311, "c", True, 60, "u", b"p"), MQTT_311) == (
        b"\x10\x13\x00\x04MQTT\x04\xc2\x00\x3c\x00\x01c\x00\x01u\x00\x01p")


def test_properties_are_dropped_in_311_and_refused_where_not_allowed():
    assert encode(PubAck(1, 0, {"reason_string": "x"}), MQTT_311) == b"\x40\x02\x00\x01"
    with pytest.raises(ValueError):
        encode(Publish("t", b"", properties={"session_expiry_interval": 1}), MQTT_5)
    with pytest.raises(ValueError):
        encode(Publish("t", b"", properties={"no_such_property": 1}), MQTT_5)
    with pytest.raises(ValueError):
        encode(Auth(), MQTT_311)


def test_a_packet_completed_with_the_start_of_the_next_does_not_hold_back_the_next():
    """Regression: the wait for one packet's body must not carry over to the next packet."""
    decoder = connected(MQTT_311)
    publish = encode(Publish("t", b"x" * 100), MQTT_311)
    assert decoder.feed(publish[:50]) == []
    assert decoder.feed(publish[50:] + b"\xc0") == [Publish("t", b"x" * 100)]
    assert decoder.feed(b"\x00") == [PingReq()]
