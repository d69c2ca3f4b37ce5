"""Byte-for-byte decoding of what paho-mqtt 2.x really sends, in MQTT 3.1.1 and 5: the bytes are
recorded from a live paho client over loopback (paho_capture), decoded, the fields checked, and
re-encoded to the very same bytes."""

from __future__ import annotations

import pytest

from gridlinks.plugins.transport_mqtt.codec import (
    MQTT_5,
    MQTT_311,
    Connect,
    Decoder,
    Disconnect,
    Publish,
    PubRel,
    Subscribe,
    Unsubscribe,
    encode,
)

from . import paho_capture as cap


@pytest.fixture(scope="module", params=[MQTT_311, MQTT_5], ids=["v311", "v5"])
def recording(request):
    version = request.param
    raw = cap.capture(cap.MQTTv5 if version == MQTT_5 else cap.MQTTv311)
    return version, raw, Decoder().feed(raw)


def test_decodes_the_whole_session(recording):
    version, raw, packets = recording
    kinds = [type(p) for p in packets]
    assert kinds[0] is Connect and kinds[1] is Subscribe and kinds[-1] is Disconnect
    assert kinds[-2] is Unsubscribe and PubRel in kinds
    decoder = Decoder()
    decoder.feed(raw)
    assert decoder.version == version and decoder.buffered == 0


def test_reencoding_gives_the_same_bytes(recording):
    """Byte for byte: our encoder writes exactly what paho wrote, packet by packet."""
    version, raw, packets = recording
    assert b"".join(encode(p, version) for p in packets) == raw


def test_one_byte_at_a_time_gives_the_same_packets(recording):
    version, raw, packets = recording
    decoder = Decoder()
    out = []
    for index in range(len(raw)):
        out += decoder.feed(raw[index:index + 1])
    assert out == packets


def test_connect_fields(recording):
    version, _, packets = recording
    connect = packets[0]
    assert connect.protocol_level == version
    assert connect.client_id == cap.CLIENT_ID and connect.clean_start
    assert connect.keep_alive == cap.KEEP_ALIVE
    assert connect.username == cap.USERNAME and connect.password == cap.PASSWORD.encode()
    will = connect.will
    assert (will.topic, will.payload, will.qos, will.retain) == (
        cap.WILL_TOPIC, cap.WILL_PAYLOAD, 1, True)
    if version == MQTT_5:
        assert connect.properties == {
            "session_expiry_interval": 3600, "receive_maximum": 32, "topic_alias_maximum": 8,
            "maximum_packet_size": 65536, "user_property": cap.USER_PROPERTIES}
        assert will.properties == {"will_delay_interval": 15, "message_expiry_interval": 600,
                                   "content_type": "text/plain"}
    else:
        assert connect.properties == {} and will.properties == {}


def test_subscribe_fields(recording):
    version, _, packets = recording
    subscribe = packets[1]
    assert subscribe.packet_id
    assert [(s.topic_filter, s.qos) for s in subscribe.subscriptions] == cap.SUBSCRIPTIONS
    if version == MQTT_5:
        assert [(s.no_local, s.retain_as_published, s.retain_handling)
                for s in subscribe.subscriptions] == [(True, False, 1), (False, True, 2),
                                                      (False, False, 0)]
        assert subscribe.properties == {"subscription_identifier": [7],
                                        "user_property": cap.USER_PROPERTIES[:1]}


def test_publish_fields(recording):
    version, _, packets = recording
    publishes = [p for p in packets if isinstance(p, Publish)]
    for packet, (topic, payload, qos) in zip(publishes, cap.PUBLISHES):
        assert (packet.topic, packet.payload, packet.qos) == (topic, payload, qos)
        assert (packet.packet_id is None) == (qos == 0)
        assert not packet.retain and not packet.dup
    qos2 = publishes[2]
    assert any(isinstance(p, PubRel) and p.packet_id == qos2.packet_id for p in packets)
    request = publishes[-1]
    assert request.topic == cap.REQUEST_TOPIC and request.qos == 1
    if version == MQTT_5:
        first = publishes[0].properties
        assert first == {"payload_format_indicator": 1, "message_expiry_interval": 60,
                         "content_type": "application/json", "topic_alias": 1,
                         "user_property": cap.USER_PROPERTIES}
        aliased = publishes[3]  # empty topic name: the session resolves alias 1
        assert aliased.topic == "" and aliased.properties == {"topic_alias": 1}
        assert request.properties == {"response_topic": cap.RESPONSE_TOPIC,
                                      "correlation_data": cap.CORRELATION}
    else:
        assert all(p.properties == {} for p in publishes) and len(publishes) == 4


def test_unsubscribe_and_disconnect_fields(recording):
    version, _, packets = recording
    assert packets[-2].topic_filters == ["cmd/#"]
    if version == MQTT_5:
        assert packets[-1] == Disconnect(0x04, {"session_expiry_interval": 0})
    else:
        assert packets[-1] == Disconnect()
