"""One test per rule that makes a packet malformed (or a protocol error) for a receiving server.
Each test names the spec statement (MQTT-x.x.x-y of MQTT 5.0 unless it says 3.1.1) or, where
the spec has no numbered statement, its section."""

from __future__ import annotations

import pytest

from gridlinks.plugins.transport_mqtt.codec import (
    MQTT_5,
    MQTT_311,
    ClientIdNotValid,
    Connect,
    Decoder,
    MalformedPacket,
    PacketTooLarge,
    ProtocolError,
    Publish,
    Subscribe,
    UnsupportedProtocol,
    encode,
)

from .codec_helpers import connect_body, connected, frame, s

BOTH = pytest.mark.parametrize("version", [MQTT_311, MQTT_5])


def refused(decoder: Decoder, raw: bytes, statement: str, kind=MalformedPacket,
            reason_code: int | None = None) -> MalformedPacket:
    with pytest.raises(kind) as caught:
        decoder.feed(raw)
    assert caught.value.statement == statement, caught.value
    if reason_code is not None:
        assert caught.value.reason_code == reason_code
    return caught.value


def publish_body(topic: bytes = s("a/b"), packet_id: bytes = b"", props: bytes = b"",
                 payload: bytes = b"x") -> bytes:
    return topic + packet_id + props + payload


# --- data representation (spec 1.5)

@BOTH
def test_remaining_length_of_five_bytes_MQTT_1_5_5_1(version):
    refused(connected(version), b"\x30\xff\xff\xff\xff\x01", "MQTT-1.5.5-1", reason_code=0x81)


@BOTH
def test_remaining_length_not_shortest_form_MQTT_1_5_5_1(version):
    refused(connected(version), b"\xc0\x80\x00", "MQTT-1.5.5-1")


def test_property_length_of_five_bytes_MQTT_1_5_5_1():
    raw = frame(0x30, s("a") + b"\xff\xff\xff\xff\x01")
    refused(connected(MQTT_5), raw, "MQTT-1.5.5-1")


@BOTH
@pytest.mark.parametrize("bad", [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"a\xe2\x82"],
                         ids=["invalid-byte", "overlong", "surrogate", "truncated"])
def test_ill_formed_utf8_topic_MQTT_1_5_4_1(version, bad):
    refused(connected(version), frame(0x30, publish_body(s(bad), props=b"\x00"
                                                          if version == MQTT_5 else b"")),
            "MQTT-1.5.4-1")


@BOTH
def test_null_character_in_string_MQTT_1_5_4_2(version):
    refused(connected(version), frame(0x30, publish_body(s(b"a\x00b"))), "MQTT-1.5.4-2")


def test_null_character_in_user_property_MQTT_1_5_4_2():
    props = b"\x26" + s("k") + s(b"v\x00")
    raw = frame(0x30, publish_body(props=bytes((len(props),)) + props))
    refused(connected(MQTT_5), raw, "MQTT-1.5.4-2")


@BOTH
def test_string_longer_than_its_packet_MQTT_1_5_4(version):
    refused(Decoder(), frame(0x10, s("MQTT") + bytes((version, 2, 0, 60)) + b"\x00\x09ab"),
            "MQTT-1.5.4")


# --- fixed header (spec 2.1)

@BOTH
@pytest.mark.parametrize("first,statement", [
    (0x41, "MQTT-2.1.3-1"), (0x58, "MQTT-2.1.3-1"), (0x60, "MQTT-3.6.1-1"),
    (0x72, "MQTT-2.1.3-1"), (0x80, "MQTT-3.8.1-1"), (0x83, "MQTT-3.8.1-1"),
    (0xA0, "MQTT-3.10.1-1"), (0xC1, "MQTT-2.1.3-1"), (0xE2, "MQTT-3.14.1-1")])
def test_reserved_fixed_header_flags(version, first, statement):
    """PUBREL/SUBSCRIBE/UNSUBSCRIBE flags must be 0010 (MQTT-3.6.1-1, MQTT-3.8.1-1,
    MQTT-3.10.1-1), all other reserved flags 0000 (MQTT-2.1.3-1)."""
    refused(connected(version), frame(first, b"\x00\x01"), statement, reason_code=0x81)


def test_auth_reserved_flags_MQTT_3_15_1_1():
    refused(connected(MQTT_5), b"\xf1\x00", "MQTT-3.15.1-1")


def test_connect_reserved_fixed_header_flags_MQTT_2_1_3_1():
    refused(Decoder(), frame(0x11, connect_body(MQTT_311)), "MQTT-2.1.3-1")


@BOTH
@pytest.mark.parametrize("first", [0x00, 0x20, 0x90, 0xB0, 0xD0])
def test_server_to_client_or_reserved_type_from_a_client_MQTT_2_1_2(version, first):
    """Type 0 is forbidden; CONNACK, SUBACK, UNSUBACK, PINGRESP only go server to client."""
    refused(connected(version), bytes((first, 0)), "MQTT-2.1.2")


def test_auth_in_311_is_a_reserved_type_MQTT_2_1_2():
    refused(connected(MQTT_311), b"\xf0\x00", "MQTT-2.1.2")


# --- packet identifiers (spec 2.2.1)

@BOTH
@pytest.mark.parametrize("first,body", [
    (0x32, s("a") + b"\x00\x00"), (0x82, b"\x00\x00"), (0xA2, b"\x00\x00"),
    (0x40, b"\x00\x00"), (0x62, b"\x00\x00")], ids=["publish", "subscribe", "unsubscribe",
                                                   "puback", "pubrel"])
def test_packet_identifier_zero_MQTT_2_2_1_3(version, first, body):
    tail = b"\x00" if version == MQTT_5 and first in (0x32, 0x82, 0xA2) else b""
    tail += {0x82: s("a") + b"\x00", 0xA2: s("a")}.get(first, b"")
    refused(connected(version), frame(first, body + tail), "MQTT-2.2.1-3")


# --- CONNECT (spec 3.1)

@BOTH
def test_first_packet_must_be_connect_MQTT_3_1_0_1(version):
    refused(Decoder(), encode(Publish("a", b"x"), version), "MQTT-3.1.0-1", ProtocolError)


@BOTH
def test_second_connect_is_a_protocol_error_MQTT_3_1_0_2(version):
    decoder = connected(version)
    refused(decoder, encode(Connect(version, "again"), version), "MQTT-3.1.0-2", ProtocolError,
            0x82)


def test_wrong_protocol_name_MQTT_3_1_2_1():
    error = refused(Decoder(), frame(0x10, connect_body(MQTT_311, name=s("MQIsdp"))),
                    "MQTT-3.1.2-1", UnsupportedProtocol, 0x84)
    assert error.protocol_level == MQTT_311


@pytest.mark.parametrize("level", [3, 6, 0])
def test_unsupported_protocol_level_MQTT_3_1_2_2(level):
    """Answered with CONNACK 0x84 (v5) / return code 1 (3.1.1 format below level 5)."""
    error = refused(Decoder(), frame(0x10, connect_body(level)), "MQTT-3.1.2-2",
                    UnsupportedProtocol, 0x84)
    assert error.protocol_level == level and error.v311_return_code == 1


@BOTH
def test_connect_reserved_flag_MQTT_3_1_2_3(version):
    refused(Decoder(), frame(0x10, connect_body(version, flags=0x03)), "MQTT-3.1.2-3")


@BOTH
def test_will_qos_without_will_flag(version):
    """MQTT-3.1.2-11 (5.0) / MQTT-3.1.2-13 (3.1.1)."""
    decoder = Decoder()
    refused(decoder, frame(0x10, connect_body(version, flags=0x0A)),
            "MQTT-3.1.2-11" if version == MQTT_5 else "MQTT-3.1.2-13")
    assert decoder.version == version  # known, so the refusal can be answered in kind


@BOTH
def test_will_qos_3(version):
    """MQTT-3.1.2-12 (5.0) / MQTT-3.1.2-14 (3.1.1)."""
    refused(Decoder(), frame(0x10, connect_body(version, flags=0x1E)),
            "MQTT-3.1.2-12" if version == MQTT_5 else "MQTT-3.1.2-14")


@BOTH
def test_will_retain_without_will_flag(version):
    """MQTT-3.1.2-13 (5.0) / MQTT-3.1.2-15 (3.1.1)."""
    refused(Decoder(), frame(0x10, connect_body(version, flags=0x22)),
            "MQTT-3.1.2-13" if version == MQTT_5 else "MQTT-3.1.2-15")


def test_password_without_user_name_in_311_MQTT_3_1_2_22():
    refused(Decoder(), frame(0x10, connect_body(MQTT_311, flags=0x42, payload=s("c") + s("p"))),
            "MQTT-3.1.2-22")


def test_password_without_user_name_is_allowed_in_5():
    (packet,) = Decoder().feed(frame(0x10, connect_body(MQTT_5, flags=0x42,
                                                        payload=s("c") + s("p"))))
    assert packet.username is None and packet.password == b"p"


def test_empty_client_id_without_clean_session_in_311_MQTT_3_1_3_8():
    error = refused(Decoder(), frame(0x10, connect_body(MQTT_311, flags=0, payload=s(""))),
                    "MQTT-3.1.3-8", ClientIdNotValid, 0x85)
    assert error.v311_return_code == 2


def test_empty_client_id_without_clean_start_is_allowed_in_5():
    (packet,) = Decoder().feed(frame(0x10, connect_body(MQTT_5, flags=0, payload=s(""))))
    assert packet.client_id == "" and not packet.clean_start


@BOTH
def test_will_topic_with_wildcard_MQTT_3_3_2_2(version):
    props = b"\x00" if version == MQTT_5 else b""
    payload = s("c") + props + s("a/#") + s("bye")
    refused(Decoder(), frame(0x10, connect_body(version, flags=0x06, payload=payload)),
            "MQTT-3.3.2-2")


@BOTH
def test_connect_with_bytes_past_its_payload_MQTT_2_1_4(version):
    """Remaining length larger than the contents: malformed."""
    refused(Decoder(), frame(0x10, connect_body(version) + b"\x00"), "MQTT-2.1.4")


@BOTH
def test_connect_shorter_than_its_fields(version):
    """Remaining length smaller than the contents (user name flag, no user name): MQTT-1.5.4."""
    refused(Decoder(), frame(0x10, connect_body(version, flags=0x82)), "MQTT-1.5.4")


def test_authentication_data_without_method_MQTT_3_1_2_11_10():
    props = b"\x04\x16" + s("d")[:2] + b"d"
    props = bytes((len(props) - 1,)) + props[1:]
    refused(Decoder(), frame(0x10, connect_body(MQTT_5, props=props)), "MQTT-3.1.2.11.10",
            ProtocolError)


# --- properties (spec 2.2.2)

def _props(*items: bytes) -> bytes:
    body = b"".join(items)
    return bytes((len(body),)) + body


def test_property_twice_is_a_protocol_error_MQTT_2_2_2_2():
    props = _props(b"\x11\x00\x00\x00\x01", b"\x11\x00\x00\x00\x02")
    refused(Decoder(), frame(0x10, connect_body(MQTT_5, props=props)), "MQTT-2.2.2.2",
            ProtocolError, 0x82)


def test_topic_alias_twice_in_publish_MQTT_2_2_2_2():
    raw = frame(0x30, publish_body(props=_props(b"\x23\x00\x01", b"\x23\x00\x02")))
    refused(connected(MQTT_5), raw, "MQTT-2.2.2.2", ProtocolError)


def test_user_property_may_repeat():
    raw = frame(0x30, publish_body(props=_props(b"\x26" + s("a") + s("1"),
                                                b"\x26" + s("a") + s("2"))))
    (packet,) = connected(MQTT_5).feed(raw)
    assert packet.properties == {"user_property": [("a", "1"), ("a", "2")]}


@pytest.mark.parametrize("pid", [0x00, 0x04, 0x2B, 0x7F, 0x80])
def test_unknown_property_identifier_is_malformed_MQTT_2_2_2_2(pid):
    raw = frame(0x30, publish_body(props=_props(bytes((pid, 0)))))
    refused(connected(MQTT_5), raw, "MQTT-2.2.2.2", MalformedPacket, 0x81)


@pytest.mark.parametrize("first,body", [
    (0x30, publish_body(props=_props(b"\x11\x00\x00\x00\x01"))),   # session expiry on PUBLISH
    (0x40, b"\x00\x01\x00" + _props(b"\x23\x00\x01")),              # topic alias on PUBACK
    (0x82, b"\x00\x01" + _props(b"\x1f" + s("r")) + s("a") + b"\x00"),  # reason on SUBSCRIBE
    (0xA2, b"\x00\x01" + _props(b"\x0b\x01") + s("a")),             # sub id on UNSUBSCRIBE
    (0xE0, b"\x00" + _props(b"\x27\x00\x00\x00\x01")),              # max packet on DISCONNECT
])
def test_property_not_allowed_on_packet_type_MQTT_2_2_2_2(first, body):
    refused(connected(MQTT_5), frame(first, body), "MQTT-2.2.2.2", MalformedPacket, 0x81)


def test_will_delay_interval_on_connect_is_not_allowed_MQTT_2_2_2_2():
    props = _props(b"\x18\x00\x00\x00\x01")
    refused(Decoder(), frame(0x10, connect_body(MQTT_5, props=props)), "MQTT-2.2.2.2")


def test_property_length_past_the_packet_MQTT_2_2_2():
    raw = frame(0x30, s("a/b") + b"\x09\x23\x00\x01")
    refused(connected(MQTT_5), raw, "MQTT-2.2.2")


def test_property_value_past_the_property_length_MQTT_2_2_2():
    raw = frame(0x30, s("a/b") + b"\x02\x23\x00\x01" + b"payload")
    with pytest.raises(MalformedPacket):
        connected(MQTT_5).feed(raw)


@pytest.mark.parametrize("prop", [b"\x21\x00\x00", b"\x27\x00\x00\x00\x00"],
                         ids=["receive_maximum", "maximum_packet_size"])
def test_zero_receive_maximum_or_packet_size_is_a_protocol_error_MQTT_2_2_2_2(prop):
    refused(Decoder(), frame(0x10, connect_body(MQTT_5, props=_props(prop))), "MQTT-2.2.2.2",
            ProtocolError)


@pytest.mark.parametrize("pid", [0x17, 0x19])
def test_request_information_other_than_0_or_1_MQTT_2_2_2_2(pid):
    props = _props(bytes((pid, 2)))
    refused(Decoder(), frame(0x10, connect_body(MQTT_5, props=props)), "MQTT-2.2.2.2",
            ProtocolError)


def test_payload_format_indicator_other_than_0_or_1_MQTT_2_2_2_2():
    raw = frame(0x30, publish_body(props=_props(b"\x01\x02")))
    refused(connected(MQTT_5), raw, "MQTT-2.2.2.2", ProtocolError)


# --- PUBLISH (spec 3.3)

@BOTH
def test_publish_qos_3_MQTT_3_3_1_4(version):
    refused(connected(version), frame(0x36, publish_body(packet_id=b"\x00\x01")),
            "MQTT-3.3.1-4", reason_code=0x81)


@BOTH
def test_publish_dup_with_qos_0_MQTT_3_3_1_2(version):
    refused(connected(version), frame(0x38, publish_body()), "MQTT-3.3.1-2")


@BOTH
@pytest.mark.parametrize("topic", ["#", "+", "v1/devices/+/telemetry", "a/#", "a+b"])
def test_publish_topic_with_wildcard_MQTT_3_3_2_2(version, topic):
    props = b"\x00" if version == MQTT_5 else b""
    refused(connected(version), frame(0x30, publish_body(s(topic), props=props)),
            "MQTT-3.3.2-2")


def test_publish_empty_topic_in_311_MQTT_4_7_3_1():
    refused(connected(MQTT_311), frame(0x30, publish_body(s(""))), "MQTT-4.7.3-1")


def test_publish_empty_topic_without_alias_in_5_MQTT_3_3_2_3_4():
    refused(connected(MQTT_5), frame(0x30, publish_body(s(""), props=b"\x00")),
            "MQTT-3.3.2.3.4", ProtocolError)
    refused(connected(MQTT_5), frame(0x30, publish_body(s(""), props=_props(b"\x01\x01"))),
            "MQTT-3.3.2.3.4", ProtocolError)


def test_publish_empty_topic_with_alias_in_5_is_left_to_the_session():
    (packet,) = connected(MQTT_5).feed(frame(0x30, publish_body(s(""), props=_props(
        b"\x23\x00\x05"))))
    assert packet.topic == "" and packet.properties == {"topic_alias": 5}


def test_topic_alias_zero_MQTT_3_3_2_8():
    """A Topic Alias of 0 is not permitted (MQTT-3.3.2-8): protocol error."""
    refused(connected(MQTT_5), frame(0x30, publish_body(props=_props(b"\x23\x00\x00"))),
            "MQTT-2.2.2.2", ProtocolError)


def test_subscription_identifier_from_a_client_MQTT_3_3_4_6():
    refused(connected(MQTT_5), frame(0x30, publish_body(props=_props(b"\x0b\x01"))),
            "MQTT-3.3.4-6", ProtocolError)


def test_publish_missing_property_length_in_5():
    refused(connected(MQTT_5), frame(0x30, s("a/b")), "MQTT-1.5.5-1")


@BOTH
def test_publish_without_room_for_packet_identifier(version):
    refused(connected(version), frame(0x32, s("a/b") + b"\x01"), "MQTT-3.3.2")


# --- acknowledgements (spec 3.4-3.7)

def test_puback_longer_than_2_in_311():
    refused(connected(MQTT_311), frame(0x40, b"\x00\x01\x00"), "MQTT-2.1.4")


def test_puback_shorter_than_2():
    refused(connected(MQTT_311), frame(0x40, b"\x01"), "MQTT-1.5.2")


@pytest.mark.parametrize("first,code", [(0x40, 0x92), (0x50, 0x01), (0x62, 0x10),
                                        (0x70, 0x80)])
def test_ack_reason_code_not_valid_for_its_type_MQTT_2_4(first, code):
    refused(connected(MQTT_5), frame(first, b"\x00\x01" + bytes((code,))), "MQTT-2.4",
            ProtocolError)


# --- SUBSCRIBE / UNSUBSCRIBE (spec 3.8, 3.10)

@BOTH
def test_subscribe_without_topic_filter_MQTT_3_8_3_3(version):
    props = b"\x00" if version == MQTT_5 else b""
    refused(connected(version), frame(0x82, b"\x00\x01" + props), "MQTT-3.8.3-3")


@BOTH
def test_unsubscribe_without_topic_filter_MQTT_3_10_3_2(version):
    props = b"\x00" if version == MQTT_5 else b""
    refused(connected(version), frame(0xA2, b"\x00\x01" + props), "MQTT-3.10.3-2")


def test_subscription_options_reserved_bits_in_5_MQTT_3_8_3_5():
    refused(connected(MQTT_5), frame(0x82, b"\x00\x01\x00" + s("a") + b"\x41"), "MQTT-3.8.3-5")


def test_subscription_options_reserved_bits_in_311_MQTT_3_8_3_4():
    """3.1.1 numbers this statement MQTT-3-8.3-4 (sic)."""
    refused(connected(MQTT_311), frame(0x82, b"\x00\x01" + s("a") + b"\x04"), "MQTT-3-8.3-4")


def test_subscription_qos_3_in_311_MQTT_3_8_3_4():
    refused(connected(MQTT_311), frame(0x82, b"\x00\x01" + s("a") + b"\x03"), "MQTT-3-8.3-4")


def test_subscription_qos_3_in_5_MQTT_3_8_3_1():
    refused(connected(MQTT_5), frame(0x82, b"\x00\x01\x00" + s("a") + b"\x03"), "MQTT-3.8.3.1",
            ProtocolError)


def test_retain_handling_3_MQTT_3_8_3_1():
    refused(connected(MQTT_5), frame(0x82, b"\x00\x01\x00" + s("a") + b"\x30"), "MQTT-3.8.3.1",
            ProtocolError, 0x82)


def test_no_local_on_shared_subscription_MQTT_3_8_3_4():
    refused(connected(MQTT_5), frame(0x82, b"\x00\x01\x00" + s("$share/g/a") + b"\x04"),
            "MQTT-3.8.3-4", ProtocolError)


@pytest.mark.parametrize("topic_filter", ["$share/g", "$share//a", "$share/g+/a", "$share/g/"])
def test_malformed_shared_subscription_MQTT_4_8_2_1(topic_filter):
    refused(connected(MQTT_5), frame(0x82, b"\x00\x01\x00" + s(topic_filter) + b"\x00"),
            "MQTT-4.8.2-1", ProtocolError)


@BOTH
@pytest.mark.parametrize("first", [0x82, 0xA2], ids=["subscribe", "unsubscribe"])
@pytest.mark.parametrize("topic_filter,statement", [
    ("a/#/b", "MQTT-4.7.1-1"), ("a#", "MQTT-4.7.1-1"), ("#/", "MQTT-4.7.1-1"),
    ("a/b+", "MQTT-4.7.1-2"), ("+a/b", "MQTT-4.7.1-2"), ("", "MQTT-4.7.3-1")])
def test_malformed_topic_filter(version, first, topic_filter, statement):
    """'#' alone and last (MQTT-4.7.1-1; 3.1.1: MQTT-4.7.1-2), '+' alone in its level
    (MQTT-4.7.1-2; 3.1.1: MQTT-4.7.1-3), not empty (MQTT-4.7.3-1)."""
    props = b"\x00" if version == MQTT_5 else b""
    options = b"\x00" if first == 0x82 else b""
    refused(connected(version), frame(first, b"\x00\x01" + props + s(topic_filter) + options),
            statement)


@BOTH
def test_subscribe_filter_without_options_byte(version):
    props = b"\x00" if version == MQTT_5 else b""
    refused(connected(version), frame(0x82, b"\x00\x01" + props + s("a")), "MQTT-3.8.3")


def test_two_subscription_identifiers_MQTT_3_8_2_1_2():
    raw = frame(0x82, b"\x00\x01" + _props(b"\x0b\x01", b"\x0b\x02") + s("a") + b"\x00")
    refused(connected(MQTT_5), raw, "MQTT-3.8.2.1.2", ProtocolError)


def test_subscription_identifier_zero_MQTT_2_2_2_2():
    raw = frame(0x82, b"\x00\x01" + _props(b"\x0b\x00") + s("a") + b"\x00")
    refused(connected(MQTT_5), raw, "MQTT-2.2.2.2", ProtocolError)


# --- PINGREQ, DISCONNECT, AUTH (spec 3.12, 3.14, 3.15)

@BOTH
def test_pingreq_with_a_body_MQTT_3_12(version):
    refused(connected(version), b"\xc0\x01\x00", "MQTT-3.12")


def test_disconnect_with_a_body_in_311_MQTT_3_14():
    refused(connected(MQTT_311), b"\xe0\x01\x00", "MQTT-3.14")


def test_disconnect_reason_code_not_valid_MQTT_2_4():
    refused(connected(MQTT_5), b"\xe0\x01\x01", "MQTT-2.4", ProtocolError)


def test_auth_reason_code_not_valid_MQTT_2_4():
    refused(connected(MQTT_5), b"\xf0\x01\x01", "MQTT-2.4", ProtocolError)


def test_disconnect_with_bytes_past_its_properties_MQTT_2_1_4():
    refused(connected(MQTT_5), b"\xe0\x04\x00\x00\x00\x00", "MQTT-2.1.4")


# --- limits and the decoder's own behaviour

@BOTH
def test_packet_too_large_is_refused_from_the_fixed_header(version):
    """Refused with 0x95 as soon as the remaining length is read, before the body is buffered:
    only the 5 header bytes of a 50 MB PUBLISH are ever fed."""
    decoder = connected(version, max_packet_size=1024)
    error = refused(decoder, b"\x30\x80\xe1\xeb\x17", "MQTT-3.2.2.3.6", PacketTooLarge, 0x95)
    assert decoder.buffered == 0 and error.reason_code == 0x95


def test_packet_exactly_at_the_limit_is_accepted():
    raw = encode(Publish("a/b", b"x" * 93), MQTT_311)
    decoder = connected(MQTT_311, max_packet_size=len(raw))
    assert decoder.feed(raw) == [Publish("a/b", b"x" * 93)]
    refused(connected(MQTT_311, max_packet_size=len(raw) - 1), raw, "MQTT-3.2.2.3.6",
            PacketTooLarge)


def test_packets_before_a_bad_one_are_handed_over():
    decoder = connected(MQTT_311)
    good = encode(Publish("a/b", b"1"), MQTT_311)
    with pytest.raises(MalformedPacket) as caught:
        decoder.feed(good + frame(0x30, publish_body(s("#"))))
    assert caught.value.packets == [Publish("a/b", b"1")]


def test_errors_are_malformed_packet_subclasses():
    for kind in (ProtocolError, PacketTooLarge, UnsupportedProtocol, ClientIdNotValid):
        assert issubclass(kind, MalformedPacket)
    assert isinstance(Subscribe(1, []), Subscribe)


def test_a_failed_decoder_refuses_everything_after():
    """After a malformed packet the stream position is lost: nothing more is decoded."""
    decoder = connected(MQTT_311)
    with pytest.raises(MalformedPacket):
        decoder.feed(b"\x00\x00")
    with pytest.raises(MalformedPacket):
        decoder.feed(encode(Publish("a", b"x"), MQTT_311))
