"""MQTT 5 properties (spec section 2.2.2.2): one table, id -> (name, type, packets).

Why a table: the spec defines 27 properties by identifier, data type and the packet types that
may carry them. Decoding and encoding both read this one table, so a property is defined in
exactly one place and "not allowed on this packet type" is a set lookup, not scattered code.
"""

from __future__ import annotations

# Packet type numbers (fixed header, high nibble) and a pseudo type for Will properties.
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = (
    8, 9, 10, 11, 12, 13, 14, 15)
WILL = 16

# Data types (spec 1.5).
BYTE, U16, U32, VBI, UTF8, BINARY, PAIR = range(7)

_ACKS = (PUBACK, PUBREC, PUBREL, PUBCOMP)
_ALL = (CONNECT, CONNACK, PUBLISH, WILL, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK,
        UNSUBSCRIBE, UNSUBACK, DISCONNECT, AUTH)

# id: (name, type, packet types that may carry it)
PROPERTIES: dict[int, tuple[str, int, frozenset[int]]] = {
    pid: (name, kind, frozenset(packets)) for pid, name, kind, packets in (
        (0x01, "payload_format_indicator", BYTE, (PUBLISH, WILL)),
        (0x02, "message_expiry_interval", U32, (PUBLISH, WILL)),
        (0x03, "content_type", UTF8, (PUBLISH, WILL)),
        (0x08, "response_topic", UTF8, (PUBLISH, WILL)),
        (0x09, "correlation_data", BINARY, (PUBLISH, WILL)),
        (0x0B, "subscription_identifier", VBI, (PUBLISH, SUBSCRIBE)),
        (0x11, "session_expiry_interval", U32, (CONNECT, CONNACK, DISCONNECT)),
        (0x12, "assigned_client_identifier", UTF8, (CONNACK,)),
        (0x13, "server_keep_alive", U16, (CONNACK,)),
        (0x15, "authentication_method", UTF8, (CONNECT, CONNACK, AUTH)),
        (0x16, "authentication_data", BINARY, (CONNECT, CONNACK, AUTH)),
        (0x17, "request_problem_information", BYTE, (CONNECT,)),
        (0x18, "will_delay_interval", U32, (WILL,)),
        (0x19, "request_response_information", BYTE, (CONNECT,)),
        (0x1A, "response_information", UTF8, (CONNACK,)),
        (0x1C, "server_reference", UTF8, (CONNACK, DISCONNECT)),
        (0x1F, "reason_string", UTF8,
         (CONNACK, *_ACKS, SUBACK, UNSUBACK, DISCONNECT, AUTH)),
        (0x21, "receive_maximum", U16, (CONNECT, CONNACK)),
        (0x22, "topic_alias_maximum", U16, (CONNECT, CONNACK)),
        (0x23, "topic_alias", U16, (PUBLISH,)),
        (0x24, "maximum_qos", BYTE, (CONNACK,)),
        (0x25, "retain_available", BYTE, (CONNACK,)),
        (0x26, "user_property", PAIR, _ALL),
        (0x27, "maximum_packet_size", U32, (CONNECT, CONNACK)),
        (0x28, "wildcard_subscription_available", BYTE, (CONNACK,)),
        (0x29, "subscription_identifier_available", BYTE, (CONNACK,)),
        (0x2A, "shared_subscription_available", BYTE, (CONNACK,)),
    )
}

BY_NAME: dict[str, tuple[int, int, frozenset[int]]] = {
    name: (pid, kind, packets) for pid, (name, kind, packets) in PROPERTIES.items()}

# Properties that may appear more than once; their value is always a list.
# (subscription_identifier: several on a server->client PUBLISH, one on SUBSCRIBE.)
MULTI = frozenset({"user_property", "subscription_identifier"})

# Properties whose only legal values are 0 and 1 (a Protocol Error otherwise).
BOOLEAN = frozenset({
    "payload_format_indicator", "request_problem_information", "request_response_information",
    "retain_available", "wildcard_subscription_available", "subscription_identifier_available",
    "shared_subscription_available"})

# Properties for which the value 0 is a Protocol Error.
NON_ZERO = frozenset({
    "receive_maximum", "maximum_packet_size", "topic_alias", "subscription_identifier"})
