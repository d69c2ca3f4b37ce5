"""MQTT 3.1.1 and 5.0 packet codec, sans-IO, server side first.

Why our own: no maintained Python library decodes the server side of both versions (``mqtt5``
and moat-lib-mqtt speak MQTT 5 only, amqtt's packet classes 3.1.1 only); see docs/mqtt.md.

Shape: ``Decoder.feed(bytes) -> [packets]`` frames the byte stream, checks every rule the spec
makes a receiving server enforce (each error names its MQTT-x.x.x-y statement) and returns
dataclasses; ``encode(packet, version) -> bytes`` is the reverse. MQTT 5 properties are read
and written through one table (``codec_properties``). The decoder is on the hot path of every
device message, so it indexes into the received buffer (no per-byte loops, no intermediate
copies of the body) and PUBLISH is parsed with the fewest steps.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from gridlinks.plugins.transport_mqtt import codec_properties as P

MQTT_311 = 4
MQTT_5 = 5

__all__ = [
    "MQTT_311", "MQTT_5", "MalformedPacket", "ProtocolError", "PacketTooLarge",
    "UnsupportedProtocol", "ClientIdNotValid", "Will", "Connect", "ConnAck", "Publish", "PubAck",
    "PubRec", "PubRel", "PubComp", "Subscription", "Subscribe", "SubAck", "Unsubscribe",
    "UnsubAck", "PingReq", "PingResp", "Disconnect", "Auth", "Packet", "Decoder", "encode",
]


# --------------------------------------------------------------------------- errors

class MalformedPacket(Exception):
    """Bytes that break the spec. ``reason_code`` is the v5 DISCONNECT (or CONNACK) reason to
    send: 0x81 malformed packet, 0x82 protocol error (``ProtocolError``), 0x95 packet too large,
    0x84 unsupported protocol version, 0x85 client identifier not valid. ``statement`` names the
    spec statement (``MQTT-3.3.2-2``) or, where the spec has no numbered one, its section.
    ``packets`` holds the complete packets that the same ``feed`` call decoded before the bad
    one, so a server can still act on them before it closes the connection."""

    reason_code: int = 0x81
    #: MQTT 3.1.1 CONNACK return code to answer with, where the spec asks for one (else None).
    v311_return_code: int | None = None

    def __init__(self, message: str, statement: str = "", reason_code: int | None = None):
        super().__init__(f"{message} ({statement})" if statement else message)
        self.statement = statement
        if reason_code is not None:
            self.reason_code = reason_code
        self.packets: list[Packet] = []


class ProtocolError(MalformedPacket):
    """The spec calls this case a Protocol Error (v5 reason 0x82) rather than malformed."""

    reason_code = 0x82


class PacketTooLarge(MalformedPacket):
    """The fixed header announced more than the decoder's ``max_packet_size`` (v5 0x95)."""

    reason_code = 0x95


class UnsupportedProtocol(MalformedPacket):
    """CONNECT with a protocol name/level other than MQTT 3.1.1 or 5 (v5 CONNACK 0x84, 3.1.1
    CONNACK return code 1). ``protocol_level`` is the level byte sent (None if unreadable): answer
    with a 3.1.1-format CONNACK when it is below 5."""

    reason_code = 0x84
    v311_return_code = 1

    def __init__(self, message: str, statement: str, protocol_level: int | None):
        super().__init__(message, statement)
        self.protocol_level = protocol_level


class ClientIdNotValid(MalformedPacket):
    """3.1.1 CONNECT with an empty client id and clean session 0 (MQTT-3.1.3-8): CONNACK return
    code 2 (identifier rejected), then close."""

    reason_code = 0x85
    v311_return_code = 2


def _malformed(message: str, statement: str) -> MalformedPacket:
    return MalformedPacket(message, statement)


def _protocol_error(message: str, statement: str) -> ProtocolError:
    return ProtocolError(message, statement)


# --------------------------------------------------------------------------- packets

def _props() -> dict[str, Any]:
    return {}


@dataclass(slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    properties: dict[str, Any] = field(default_factory=_props)


@dataclass(slots=True)
class Connect:
    protocol_level: int = MQTT_311
    client_id: str = ""
    clean_start: bool = True
    keep_alive: int = 60
    username: str | None = None
    password: bytes | None = None
    will: Will | None = None
    properties: dict[str, Any] = field(default_factory=_props)


@dataclass(slots=True)
class ConnAck:
    session_present: bool = False
    reason_code: int = 0
    properties: dict[str, Any] = field(default_factory=_props)


@dataclass(slots=True)
class Publish:
    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None
    properties: dict[str, Any] = field(default_factory=_props)


@dataclass(slots=True)
class _Ack:
    """The four publish acknowledgements share one layout (MQTT 5 sections 3.4-3.7:
    packet id, reason code, properties); each is its own class because the packet
    type is what the codec and the session dispatch on (``type(packet)``)."""

    packet_id: int
    reason_code: int = 0
    properties: dict[str, Any] = field(default_factory=_props)


class PubAck(_Ack):
    __slots__ = ()


class PubRec(_Ack):
    __slots__ = ()


class PubRel(_Ack):
    __slots__ = ()


class PubComp(_Ack):
    __slots__ = ()


@dataclass(slots=True)
class Subscription:
    topic_filter: str
    qos: int = 0
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = 0


@dataclass(slots=True)
class Subscribe:
    packet_id: int
    subscriptions: list[Subscription]
    properties: dict[str, Any] = field(default_factory=_props)


@dataclass(slots=True)
class SubAck:
    packet_id: int
    reason_codes: list[int]
    properties: dict[str, Any] = field(default_factory=_props)


@dataclass(slots=True)
class Unsubscribe:
    packet_id: int
    topic_filters: list[str]
    properties: dict[str, Any] = field(default_factory=_props)


@dataclass(slots=True)
class UnsubAck:
    packet_id: int
    reason_codes: list[int] = field(default_factory=list)  # not on the wire in 3.1.1
    properties: dict[str, Any] = field(default_factory=_props)


@dataclass(slots=True)
class PingReq:
    pass


@dataclass(slots=True)
class PingResp:
    pass


@dataclass(slots=True)
class Disconnect:
    reason_code: int = 0
    properties: dict[str, Any] = field(default_factory=_props)


@dataclass(slots=True)
class Auth:
    reason_code: int = 0
    properties: dict[str, Any] = field(default_factory=_props)


Packet = (Connect | ConnAck | Publish | PubAck | PubRec | PubRel | PubComp | Subscribe | SubAck
          | Unsubscribe | UnsubAck | PingReq | PingResp | Disconnect | Auth)

# v5 reason codes each packet type may carry (spec 2.4 and each packet's section).
_RC_CONNACK = frozenset({0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A,
                         0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F})
_RC_PUBACK = frozenset({0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99})
_RC_PUBREL = frozenset({0x00, 0x92})
_RC_SUBACK = frozenset({0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2})
_RC_UNSUBACK = frozenset({0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91})
_RC_DISCONNECT = frozenset({0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8C, 0x8D,
                            0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A,
                            0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2})
_RC_AUTH = frozenset({0x00, 0x18, 0x19})
_RC_SUBACK_311 = frozenset({0x00, 0x01, 0x02, 0x80})


# --------------------------------------------------------------------------- primitives
# Every reader takes (data, pos, end) and returns (value, new_pos); it never reads at or past
# ``end``, so a length field that points beyond its packet is caught, not followed.

def _read_vbi(data, pos: int, end: int) -> tuple[int, int]:
    value = 0
    shift = 0
    for index in range(4):
        if pos >= end:
            raise _malformed("variable byte integer runs past the packet", "MQTT-1.5.5-1")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if byte == 0 and index:
                raise _malformed("variable byte integer not in its shortest form",
                                 "MQTT-1.5.5-1")
            return value, pos
        shift += 7
    raise _malformed("variable byte integer longer than 4 bytes", "MQTT-1.5.5-1")


def _read_u16(data, pos: int, end: int) -> tuple[int, int]:
    if pos + 2 > end:
        raise _malformed("two-byte integer runs past the packet", "MQTT-1.5.2")
    return (data[pos] << 8) | data[pos + 1], pos + 2


def _read_u32(data, pos: int, end: int) -> tuple[int, int]:
    if pos + 4 > end:
        raise _malformed("four-byte integer runs past the packet", "MQTT-1.5.3")
    return struct.unpack_from(">I", data, pos)[0], pos + 4


def _read_binary(data, pos: int, end: int) -> tuple[bytes, int]:
    if pos + 2 > end:
        raise _malformed("binary data length runs past the packet", "MQTT-1.5.6")
    stop = pos + 2 + ((data[pos] << 8) | data[pos + 1])
    if stop > end:
        raise _malformed("binary data runs past the packet", "MQTT-1.5.6")
    return bytes(data[pos + 2:stop]), stop


def _read_str(data, pos: int, end: int) -> tuple[str, int]:
    if pos + 2 > end:
        raise _malformed("string length runs past the packet", "MQTT-1.5.4")
    stop = pos + 2 + ((data[pos] << 8) | data[pos + 1])
    if stop > end:
        raise _malformed("string runs past the packet", "MQTT-1.5.4")
    return _utf8(data[pos + 2:stop]), stop


def _utf8(raw) -> str:
    """UTF-8 as MQTT wants it: well formed, no surrogates (Python's strict codec refuses both),
    no U+0000."""
    try:
        text = str(raw, "utf-8")
    except UnicodeDecodeError:
        raise _malformed("string is not well-formed UTF-8", "MQTT-1.5.4-1") from None
    if "\x00" in text:
        raise _malformed("string contains U+0000", "MQTT-1.5.4-2")
    return text


def _read_properties(data, pos: int, end: int, ptype: int) -> tuple[dict[str, Any], int]:
    """MQTT 5 property list (spec 2.2.2): length, then id/value pairs from the table."""
    length, pos = _read_vbi(data, pos, end)
    stop = pos + length
    if stop > end:
        raise _malformed("property length runs past the packet", "MQTT-2.2.2")
    props: dict[str, Any] = {}
    table = P.PROPERTIES
    while pos < stop:
        pid = data[pos]
        pos += 1
        entry = table.get(pid)
        if entry is None:
            raise _malformed(f"unknown property identifier 0x{pid:02x}", "MQTT-2.2.2.2")
        name, kind, packets = entry
        if ptype not in packets:
            raise _malformed(f"property {name} not allowed on this packet type", "MQTT-2.2.2.2")
        if kind == P.UTF8:
            value, pos = _read_str(data, pos, stop)
        elif kind == P.BYTE:
            if pos >= stop:
                raise _malformed("property value runs past the properties", "MQTT-2.2.2")
            value = data[pos]
            pos += 1
        elif kind == P.U16:
            value, pos = _read_u16(data, pos, stop)
        elif kind == P.U32:
            value, pos = _read_u32(data, pos, stop)
        elif kind == P.VBI:
            value, pos = _read_vbi(data, pos, stop)
        elif kind == P.BINARY:
            value, pos = _read_binary(data, pos, stop)
        else:  # PAIR
            key, pos = _read_str(data, pos, stop)
            text, pos = _read_str(data, pos, stop)
            value = (key, text)
        if name in P.MULTI:
            props.setdefault(name, []).append(value)
        elif name in props:
            raise _protocol_error(f"property {name} included more than once", "MQTT-2.2.2.2")
        else:
            props[name] = value
        if name in P.BOOLEAN and value > 1:
            raise _protocol_error(f"property {name} must be 0 or 1", "MQTT-2.2.2.2")
        if value == 0 and name in P.NON_ZERO:
            raise _protocol_error(f"property {name} must not be 0", "MQTT-2.2.2.2")
        if name == "maximum_qos" and value > 1:
            raise _protocol_error("maximum_qos must be 0 or 1", "MQTT-3.2.2.3.4")
    return props, stop


def _check_topic_name(topic: str, statement_empty: str = "MQTT-4.7.3-1") -> None:
    if "+" in topic or "#" in topic:
        raise _malformed("topic name contains a wildcard", "MQTT-3.3.2-2")
    if not topic:
        raise _malformed("topic name is empty", statement_empty)


def _check_topic_filter(topic_filter: str, version: int) -> None:
    """Well-formed filter (spec 4.7.1): '#' alone in the last level, '+' alone in its level;
    in MQTT 5 a shared subscription is ``$share/<name>/<filter>`` (spec 4.8.2)."""
    if not topic_filter:
        raise _malformed("topic filter is empty", "MQTT-4.7.3-1")
    if version == MQTT_5 and topic_filter.startswith("$share/"):
        parts = topic_filter.split("/", 2)
        if len(parts) < 3 or not parts[1] or "+" in parts[1] or "#" in parts[1] or not parts[2]:
            raise _protocol_error("shared subscription must be $share/<name>/<filter>",
                                  "MQTT-4.8.2-1")
    if "#" in topic_filter or "+" in topic_filter:
        levels = topic_filter.split("/")
        last = len(levels) - 1
        for index, level in enumerate(levels):
            if "#" in level and (level != "#" or index != last):
                raise _malformed("'#' must be alone in the last topic level", "MQTT-4.7.1-1")
            if "+" in level and level != "+":
                raise _malformed("'+' must be alone in its topic level", "MQTT-4.7.1-2")


# --------------------------------------------------------------------------- decoder

def _valid_first_bytes(server: bool, version: int | None) -> frozenset[int]:
    """Every legal first byte (type and flags, spec 2.1.3) for one side and version."""
    if server and version is None:
        return frozenset({0x10})
    publish = {0x30 | dup << 3 | qos << 1 | retain
               for qos in (0, 1, 2) for dup in (0, 1) for retain in (0, 1)
               if not (qos == 0 and dup)}
    common = {0x40, 0x50, 0x62, 0x70}
    if server:
        common |= {0x82, 0xA2, 0xC0, 0xE0}
    else:
        common |= {0x20, 0x90, 0xB0, 0xD0}
        if version == MQTT_5:
            common.add(0xE0)
    if version == MQTT_5:
        common.add(0xF0)
    return frozenset(publish | common)


_FIXED_FLAGS = {1: 0, 2: 0, 4: 0, 5: 0, 6: 2, 7: 0, 8: 2, 9: 0, 10: 2, 11: 0, 12: 0, 13: 0,
                14: 0, 15: 0}
_FLAG_STATEMENTS = {6: "MQTT-3.6.1-1", 8: "MQTT-3.8.1-1", 10: "MQTT-3.10.1-1",
                    14: "MQTT-3.14.1-1", 15: "MQTT-3.15.1-1"}
_SERVER_TYPES = frozenset({1, 3, 4, 5, 6, 7, 8, 10, 12, 14, 15})
_CLIENT_TYPES = frozenset({2, 3, 4, 5, 6, 7, 9, 11, 13, 14, 15})


class Decoder:
    """Incremental decoder for one connection.

    Server side (the default): accepts only client->server packets; the first must be CONNECT,
    whose protocol level sets ``version`` (set as soon as the level byte is read, so an error
    later in that CONNECT can be answered in the client's version). ``client_version=...``
    makes a client-side decoder of that version (server->client packets), for tests and load
    generators.
    """

    __slots__ = ("max_packet_size", "version", "_server", "_valid", "_buf", "_need")

    def __init__(self, max_packet_size: int = 268_435_455, *, client_version: int | None = None):
        self.max_packet_size = max_packet_size
        self.version: int | None = client_version
        self._server = client_version is None
        self._valid = _valid_first_bytes(self._server, client_version)
        self._buf = bytearray()
        self._need = 0  # size of the packet whose body is awaited (0: header not read yet)

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a packet (never more than max_packet_size)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Packet]:
        """Append bytes, return every complete packet decoded, in order. Raises MalformedPacket
        (PacketTooLarge as soon as the fixed header's remaining length says > max_packet_size,
        BEFORE the body is buffered). The first packet must be CONNECT (MQTT-3.1.0-1); a second
        CONNECT is a protocol error (MQTT-3.1.0-2)."""
        buf = self._buf
        if buf:
            buf += data
            if len(buf) < self._need:
                return []
            data = buf
        elif not data:
            return []
        self._need = 0  # set again below only while a packet's body is awaited
        out: list[Packet] = []
        append = out.append
        parsers = _PARSERS
        limit = self.max_packet_size
        pos = 0
        size = len(data)
        try:
            while size - pos >= 2:
                first = data[pos]
                if first not in self._valid:  # re-read: a CONNECT changes it
                    raise self._bad_first_byte(first)
                length = data[pos + 1]
                if length < 0x80:
                    body = pos + 2
                elif size - pos > 2 and 0 < data[pos + 2] < 0x80:  # 2-byte length, inline
                    length = (length & 0x7F) | (data[pos + 2] << 7)
                    body = pos + 3
                else:
                    header = self._long_length(data, pos + 1, size)
                    if header is None:
                        break
                    length, body = header
                end = body + length
                if end - pos > limit:
                    raise PacketTooLarge(
                        f"packet of {end - pos} bytes exceeds the maximum of {limit}",
                        "MQTT-3.2.2.3.6")
                if end > size:
                    self._need = end - pos
                    break
                append(parsers[first >> 4](self, first, data, body, end))
                pos = end
        except MalformedPacket as exc:
            exc.packets = out
            self._buf = bytearray()
            self._need = 0
            self._valid = frozenset()  # the stream is lost: any further byte is refused too
            raise
        if pos >= size:
            if buf:
                self._buf = bytearray()
        elif data is buf:
            del buf[:pos]
        else:
            self._buf = bytearray(data[pos:])
        return out

    @staticmethod
    def _long_length(data, pos: int, size: int) -> tuple[int, int] | None:
        """Remaining length of 2-4 bytes; None while it is incomplete."""
        value = 0
        shift = 0
        for index in range(4):
            if pos >= size:
                return None
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                if byte == 0 and index:
                    raise _malformed("remaining length not in its shortest form", "MQTT-1.5.5-1")
                return value, pos
            shift += 7
        raise _malformed("remaining length longer than 4 bytes", "MQTT-1.5.5-1")

    def _bad_first_byte(self, first: int) -> MalformedPacket:
        ptype = first >> 4
        if not self._valid:
            return _malformed("the stream already failed on an earlier packet", "MQTT-4.13.1-1")
        if self._server and self.version is None:
            if ptype != 1:
                return _protocol_error("first packet is not CONNECT", "MQTT-3.1.0-1")
            return _malformed("CONNECT reserved flags must be 0", "MQTT-2.1.3-1")
        if self._server and ptype == 1:
            return _protocol_error("second CONNECT", "MQTT-3.1.0-2")
        allowed = _SERVER_TYPES if self._server else _CLIENT_TYPES
        if (ptype not in allowed or (ptype == 15 and self.version != MQTT_5)
                or (ptype != 3 and first & 0x0F == _FIXED_FLAGS[ptype])):
            return _malformed(f"packet type {ptype} not allowed in this direction/version",
                              "MQTT-2.1.2")
        if ptype == 3:
            if first & 0x06 == 0x06:
                return _malformed("PUBLISH with QoS 3", "MQTT-3.3.1-4")
            return _malformed("PUBLISH QoS 0 with DUP set", "MQTT-3.3.1-2")
        return _malformed(f"reserved flags of packet type {ptype} must be "
                          f"{_FIXED_FLAGS[ptype]:04b}",
                          _FLAG_STATEMENTS.get(ptype, "MQTT-2.1.3-1"))

    # --- per-type parsers: (first byte, buffer, body start, packet end) -> packet

    def _publish(self, first: int, data, pos: int, end: int) -> Publish:
        if pos + 2 > end:
            raise _malformed("PUBLISH topic length runs past the packet", "MQTT-3.3.2-1")
        stop = pos + 2 + ((data[pos] << 8) | data[pos + 1])
        if stop > end:
            raise _malformed("PUBLISH topic runs past the packet", "MQTT-3.3.2-1")
        try:
            topic = str(data[pos + 2:stop], "utf-8")
        except UnicodeDecodeError:
            raise _malformed("string is not well-formed UTF-8", "MQTT-1.5.4-1") from None
        if "+" in topic or "#" in topic or "\x00" in topic:
            if "\x00" in topic:
                raise _malformed("string contains U+0000", "MQTT-1.5.4-2")
            raise _malformed("PUBLISH topic name contains a wildcard", "MQTT-3.3.2-2")
        pos = stop
        qos = (first >> 1) & 3
        packet_id = None
        if qos:
            if pos + 2 > end:
                raise _malformed("PUBLISH packet identifier runs past the packet", "MQTT-3.3.2")
            packet_id = (data[pos] << 8) | data[pos + 1]
            if not packet_id:
                raise _malformed("PUBLISH QoS>0 with packet identifier 0", "MQTT-2.2.1-3")
            pos += 2
        if self.version == MQTT_5:
            if data[pos] if pos < end else 1:  # non-empty property list
                props, pos = _read_properties(data, pos, end, P.PUBLISH)
                if self._server and "subscription_identifier" in props:
                    raise _protocol_error("PUBLISH from a client carries a Subscription "
                                          "Identifier", "MQTT-3.3.4-6")
                if not topic and "topic_alias" not in props:
                    raise _protocol_error("empty topic name without a Topic Alias",
                                          "MQTT-3.3.2.3.4")
            else:
                props = {}
                pos += 1
                if not topic:
                    raise _protocol_error("empty topic name without a Topic Alias",
                                          "MQTT-3.3.2.3.4")
        else:
            props = {}
            if not topic:
                raise _malformed("PUBLISH topic name is empty", "MQTT-4.7.3-1")
        return Publish(topic, bytes(data[pos:end]), qos, bool(first & 1), bool(first & 8),
                       packet_id, props)

    def _connect(self, first: int, data, pos: int, end: int) -> Connect:
        name, pos = _read_str(data, pos, end)
        if pos >= end:
            raise _malformed("CONNECT ends after the protocol name", "MQTT-3.1.2")
        level = data[pos]
        if name != "MQTT":
            raise UnsupportedProtocol(f"protocol name {name!r} is not MQTT", "MQTT-3.1.2-1",
                                      level)
        if level not in (MQTT_311, MQTT_5):
            raise UnsupportedProtocol(f"protocol level {level} is not 4 or 5", "MQTT-3.1.2-2",
                                      level)
        self.version = level
        v5 = level == MQTT_5
        pos += 1
        if pos + 3 > end:
            raise _malformed("CONNECT variable header runs past the packet", "MQTT-3.1.2")
        flags = data[pos]
        keep_alive = (data[pos + 1] << 8) | data[pos + 2]
        pos += 3
        if flags & 0x01:
            raise _malformed("CONNECT reserved flag is not 0", "MQTT-3.1.2-3")
        will_flag = flags & 0x04
        will_qos = (flags >> 3) & 3
        will_retain = bool(flags & 0x20)
        if not will_flag and will_qos:
            raise _malformed("Will QoS without the Will Flag",
                             "MQTT-3.1.2-11" if v5 else "MQTT-3.1.2-13")
        if will_qos == 3:
            raise _malformed("Will QoS 3", "MQTT-3.1.2-12" if v5 else "MQTT-3.1.2-14")
        if not will_flag and will_retain:
            raise _malformed("Will Retain without the Will Flag",
                             "MQTT-3.1.2-13" if v5 else "MQTT-3.1.2-15")
        has_username = flags & 0x80
        has_password = flags & 0x40
        if not v5 and has_password and not has_username:
            raise _malformed("password flag without the user name flag", "MQTT-3.1.2-22")
        props: dict[str, Any] = {}
        if v5:
            props, pos = _read_properties(data, pos, end, P.CONNECT)
            if "authentication_data" in props and "authentication_method" not in props:
                raise _protocol_error("Authentication Data without Authentication Method",
                                      "MQTT-3.1.2.11.10")
        client_id, pos = _read_str(data, pos, end)
        will = None
        if will_flag:
            will_props: dict[str, Any] = {}
            if v5:
                will_props, pos = _read_properties(data, pos, end, P.WILL)
            will_topic, pos = _read_str(data, pos, end)
            _check_topic_name(will_topic)
            will_payload, pos = _read_binary(data, pos, end)
            will = Will(will_topic, will_payload, will_qos, will_retain, will_props)
        username = password = None
        if has_username:
            username, pos = _read_str(data, pos, end)
        if has_password:
            password, pos = _read_binary(data, pos, end)
        if pos != end:
            raise _malformed("CONNECT has bytes past its payload", "MQTT-2.1.4")
        clean_start = bool(flags & 0x02)
        if not v5 and not client_id and not clean_start:
            raise ClientIdNotValid("empty client identifier with clean session 0",
                                   "MQTT-3.1.3-8")
        self._valid = _valid_first_bytes(True, level) - {0x10}
        return Connect(level, client_id, clean_start, keep_alive, username, password, will,
                       props)

    def _ack(self, first: int, data, pos: int, end: int):
        """PUBACK, PUBREC, PUBREL, PUBCOMP (spec 3.4-3.7): same layout."""
        ptype = first >> 4
        packet_id, pos = _read_u16(data, pos, end)
        if not packet_id:
            raise _malformed("packet identifier 0", "MQTT-2.2.1-3")
        reason_code = 0
        props: dict[str, Any] = {}
        if self.version == MQTT_5:
            if pos < end:
                reason_code = data[pos]
                allowed = _RC_PUBACK if ptype in (4, 5) else _RC_PUBREL
                if reason_code not in allowed:
                    raise _protocol_error(f"reason code 0x{reason_code:02x} not valid here",
                                          "MQTT-2.4")
                pos += 1
                if pos < end:
                    props, pos = _read_properties(data, pos, end, ptype)
        if pos != end:
            raise _malformed("acknowledgement has bytes past its end", "MQTT-2.1.4")
        return _ACK_TYPES[ptype](packet_id, reason_code, props)

    def _subscribe(self, first: int, data, pos: int, end: int) -> Subscribe:
        packet_id, pos = _read_u16(data, pos, end)
        if not packet_id:
            raise _malformed("SUBSCRIBE with packet identifier 0", "MQTT-2.2.1-3")
        v5 = self.version == MQTT_5
        props: dict[str, Any] = {}
        if v5:
            props, pos = _read_properties(data, pos, end, P.SUBSCRIBE)
            if len(props.get("subscription_identifier", ())) > 1:
                raise _protocol_error("more than one Subscription Identifier",
                                      "MQTT-3.8.2.1.2")
        subscriptions = []
        while pos < end:
            topic_filter, pos = _read_str(data, pos, end)
            if pos >= end:
                raise _malformed("subscription options missing", "MQTT-3.8.3")
            options = data[pos]
            pos += 1
            qos = options & 0x03
            if v5:
                if options & 0xC0:
                    raise _malformed("subscription options reserved bits set", "MQTT-3.8.3-5")
                if qos == 3:
                    raise _protocol_error("subscription Maximum QoS 3", "MQTT-3.8.3.1")
                retain_handling = (options >> 4) & 0x03
                if retain_handling == 3:
                    raise _protocol_error("Retain Handling 3", "MQTT-3.8.3.1")
                no_local = bool(options & 0x04)
                _check_topic_filter(topic_filter, MQTT_5)
                if no_local and topic_filter.startswith("$share/"):
                    raise _protocol_error("No Local on a shared subscription", "MQTT-3.8.3-4")
                subscriptions.append(Subscription(topic_filter, qos, no_local,
                                                  bool(options & 0x08), retain_handling))
            else:
                if options & 0xFC or qos == 3:
                    raise _malformed("subscription options reserved bits set or QoS 3",
                                     "MQTT-3-8.3-4")
                _check_topic_filter(topic_filter, MQTT_311)
                subscriptions.append(Subscription(topic_filter, qos))
        if not subscriptions:
            raise _malformed("SUBSCRIBE without a topic filter", "MQTT-3.8.3-3")
        return Subscribe(packet_id, subscriptions, props)

    def _unsubscribe(self, first: int, data, pos: int, end: int) -> Unsubscribe:
        packet_id, pos = _read_u16(data, pos, end)
        if not packet_id:
            raise _malformed("UNSUBSCRIBE with packet identifier 0", "MQTT-2.2.1-3")
        props: dict[str, Any] = {}
        if self.version == MQTT_5:
            props, pos = _read_properties(data, pos, end, P.UNSUBSCRIBE)
        filters = []
        while pos < end:
            topic_filter, pos = _read_str(data, pos, end)
            _check_topic_filter(topic_filter, self.version)
            filters.append(topic_filter)
        if not filters:
            raise _malformed("UNSUBSCRIBE without a topic filter", "MQTT-3.10.3-2")
        return Unsubscribe(packet_id, filters, props)

    def _empty(self, first: int, data, pos: int, end: int):
        """PINGREQ / PINGRESP: no variable header, no payload."""
        if pos != end:
            raise _malformed("PINGREQ/PINGRESP with a body", "MQTT-3.12")
        return PingReq() if first == 0xC0 else PingResp()

    def _disconnect(self, first: int, data, pos: int, end: int) -> Disconnect:
        return Disconnect(*self._reason_and_props(data, pos, end, P.DISCONNECT, _RC_DISCONNECT))

    def _auth(self, first: int, data, pos: int, end: int) -> Auth:
        return Auth(*self._reason_and_props(data, pos, end, P.AUTH, _RC_AUTH))

    def _reason_and_props(self, data, pos, end, ptype, allowed) -> tuple[int, dict[str, Any]]:
        """DISCONNECT and AUTH: optional reason code, optional properties (v5 only)."""
        if self.version != MQTT_5:
            if pos != end:
                raise _malformed("DISCONNECT with a body in MQTT 3.1.1", "MQTT-3.14")
            return 0, {}
        if pos == end:
            return 0, {}
        reason_code = data[pos]
        if reason_code not in allowed:
            raise _protocol_error(f"reason code 0x{reason_code:02x} not valid here", "MQTT-2.4")
        props: dict[str, Any] = {}
        if pos + 1 < end:
            props, pos = _read_properties(data, pos + 1, end, ptype)
            if pos != end:
                raise _malformed("packet has bytes past its properties", "MQTT-2.1.4")
        return reason_code, props

    # --- client side only (server -> client packets)

    def _connack(self, first: int, data, pos: int, end: int) -> ConnAck:
        if pos + 2 > end:
            raise _malformed("CONNACK too short", "MQTT-3.2.2")
        flags, reason_code = data[pos], data[pos + 1]
        pos += 2
        if flags & 0xFE:
            raise _malformed("CONNACK reserved flags set", "MQTT-3.2.2-1")
        props: dict[str, Any] = {}
        if self.version == MQTT_5:
            if reason_code not in _RC_CONNACK:
                raise _protocol_error(f"CONNACK reason code 0x{reason_code:02x}", "MQTT-3.2.2.2")
            props, pos = _read_properties(data, pos, end, P.CONNACK)
        elif reason_code > 5:
            raise _protocol_error(f"CONNACK return code {reason_code}", "MQTT-3.2.2.3")
        if pos != end:
            raise _malformed("CONNACK has bytes past its end", "MQTT-2.1.4")
        if reason_code and flags:
            raise _protocol_error("session present with a refusal", "MQTT-3.2.2-6")
        return ConnAck(bool(flags), reason_code, props)

    def _suback(self, first: int, data, pos: int, end: int):
        ptype = first >> 4
        packet_id, pos = _read_u16(data, pos, end)
        props: dict[str, Any] = {}
        if self.version == MQTT_5:
            props, pos = _read_properties(data, pos, end, ptype)
            allowed = _RC_SUBACK if ptype == 9 else _RC_UNSUBACK
        else:
            allowed = _RC_SUBACK_311
            if ptype == 11:
                if pos != end:
                    raise _malformed("UNSUBACK has a payload in MQTT 3.1.1", "MQTT-3.11")
                return UnsubAck(packet_id, [], props)
        codes = list(data[pos:end])
        for code in codes:
            if code not in allowed:
                raise _protocol_error(f"reason code 0x{code:02x} not valid here", "MQTT-2.4")
        if not codes:
            raise _malformed("SUBACK/UNSUBACK without reason codes", "MQTT-3.9.3")
        return (SubAck if ptype == 9 else UnsubAck)(packet_id, codes, props)


_ACK_TYPES = {4: PubAck, 5: PubRec, 6: PubRel, 7: PubComp}
_PARSERS = {
    1: Decoder._connect, 2: Decoder._connack, 3: Decoder._publish, 4: Decoder._ack,
    5: Decoder._ack, 6: Decoder._ack, 7: Decoder._ack, 8: Decoder._subscribe,
    9: Decoder._suback, 10: Decoder._unsubscribe, 11: Decoder._suback, 12: Decoder._empty,
    13: Decoder._empty, 14: Decoder._disconnect, 15: Decoder._auth,
}


# --------------------------------------------------------------------------- encoder

_VBI_SMALL = [bytes((n,)) for n in range(128)]


def _vbi(value: int) -> bytes:
    if value < 128:
        return _VBI_SMALL[value]
    if value > 268_435_455:
        raise ValueError(f"{value} does not fit a variable byte integer")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _str_bytes(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 65535:
        raise ValueError("string longer than 65535 bytes")
    return len(raw).to_bytes(2, "big") + raw


def _bin_bytes(raw: bytes) -> bytes:
    if len(raw) > 65535:
        raise ValueError("binary data longer than 65535 bytes")
    return len(raw).to_bytes(2, "big") + raw


def _props_bytes(props: dict[str, Any], ptype: int) -> bytes:
    if not props:
        return b"\x00"
    parts = []
    for name, value in props.items():
        try:
            pid, kind, packets = P.BY_NAME[name]
        except KeyError:
            raise ValueError(f"unknown MQTT 5 property {name!r}") from None
        if ptype not in packets:
            raise ValueError(f"property {name} is not allowed on packet type {ptype}")
        if name in P.MULTI:  # user_property: list of pairs; subscription_identifier: list
            values = (value,) if isinstance(value, int) else value
        else:
            values = (value,)
        for item in values:
            head = _VBI_SMALL[pid]
            if kind == P.UTF8:
                parts.append(head + _str_bytes(item))
            elif kind == P.BYTE:
                parts.append(head + bytes((item,)))
            elif kind == P.U16:
                parts.append(head + item.to_bytes(2, "big"))
            elif kind == P.U32:
                parts.append(head + item.to_bytes(4, "big"))
            elif kind == P.VBI:
                parts.append(head + _vbi(item))
            elif kind == P.BINARY:
                parts.append(head + _bin_bytes(bytes(item)))
            else:
                parts.append(head + _str_bytes(item[0]) + _str_bytes(item[1]))
    body = b"".join(parts)
    return _vbi(len(body)) + body


def _frame(first: int, body: bytes) -> bytes:
    return bytes((first,)) + _vbi(len(body)) + body


def _encode_connect(p: Connect, version: int) -> bytes:
    v5 = version == MQTT_5
    flags = 0x02 if p.clean_start else 0
    if p.will is not None:
        flags |= 0x04 | (p.will.qos << 3) | (0x20 if p.will.retain else 0)
    if p.username is not None:
        flags |= 0x80
    if p.password is not None:
        flags |= 0x40
    parts = [b"\x00\x04MQTT", bytes((version, flags)), p.keep_alive.to_bytes(2, "big")]
    if v5:
        parts.append(_props_bytes(p.properties, P.CONNECT))
    parts.append(_str_bytes(p.client_id))
    if p.will is not None:
        if v5:
            parts.append(_props_bytes(p.will.properties, P.WILL))
        parts.append(_str_bytes(p.will.topic))
        parts.append(_bin_bytes(p.will.payload))
    if p.username is not None:
        parts.append(_str_bytes(p.username))
    if p.password is not None:
        parts.append(_bin_bytes(p.password))
    return _frame(0x10, b"".join(parts))


# MQTT 5 CONNACK reason -> MQTT 3.1.1 return code (spec 3.2.2.3 of 3.1.1).
_V311_CONNACK = {0x84: 1, 0x85: 2, 0x86: 4, 0x8C: 4, 0x87: 5, 0x8A: 5}


def _encode_connack(p: ConnAck, version: int) -> bytes:
    code = p.reason_code
    present = 1 if p.session_present and not code else 0
    if version == MQTT_5:
        return _frame(0x20, bytes((present, code)) + _props_bytes(p.properties, P.CONNACK))
    if code > 5:
        code = _V311_CONNACK.get(code, 3)  # 3: server unavailable
    return bytes((0x20, 2, present, code))


def _encode_publish(p: Publish, version: int) -> bytes:
    topic = p.topic.encode("utf-8")
    qos = p.qos
    first = 0x30 | (qos << 1) | (0x08 if p.dup else 0) | (0x01 if p.retain else 0)
    head = len(topic).to_bytes(2, "big") + topic
    if qos:
        head += p.packet_id.to_bytes(2, "big")
    if version == MQTT_5:
        head += _props_bytes(p.properties, P.PUBLISH)
    payload = p.payload
    return bytes((first,)) + _vbi(len(head) + len(payload)) + head + payload


def _encode_ack(p, version: int) -> bytes:
    ptype = _ACK_NUMBERS[type(p)]
    first = (ptype << 4) | (2 if ptype == 6 else 0)
    pid = p.packet_id.to_bytes(2, "big")
    if version != MQTT_5 or (not p.reason_code and not p.properties):
        return bytes((first, 2)) + pid
    if not p.properties:
        return bytes((first, 3)) + pid + bytes((p.reason_code,))
    return _frame(first, pid + bytes((p.reason_code,)) + _props_bytes(p.properties, ptype))


_ACK_NUMBERS = {PubAck: 4, PubRec: 5, PubRel: 6, PubComp: 7}


def _encode_subscribe(p: Subscribe, version: int) -> bytes:
    parts = [p.packet_id.to_bytes(2, "big")]
    v5 = version == MQTT_5
    if v5:
        parts.append(_props_bytes(p.properties, P.SUBSCRIBE))
    for sub in p.subscriptions:
        options = sub.qos
        if v5:
            options |= ((0x04 if sub.no_local else 0) | (0x08 if sub.retain_as_published else 0)
                        | (sub.retain_handling << 4))
        parts.append(_str_bytes(sub.topic_filter) + bytes((options,)))
    return _frame(0x82, b"".join(parts))


def _encode_suback(p: SubAck, version: int) -> bytes:
    pid = p.packet_id.to_bytes(2, "big")
    if version == MQTT_5:
        return _frame(0x90, pid + _props_bytes(p.properties, P.SUBACK) + bytes(p.reason_codes))
    return _frame(0x90, pid + bytes(c if c < 0x80 else 0x80 for c in p.reason_codes))


def _encode_unsubscribe(p: Unsubscribe, version: int) -> bytes:
    parts = [p.packet_id.to_bytes(2, "big")]
    if version == MQTT_5:
        parts.append(_props_bytes(p.properties, P.UNSUBSCRIBE))
    parts.extend(_str_bytes(topic_filter) for topic_filter in p.topic_filters)
    return _frame(0xA2, b"".join(parts))


def _encode_unsuback(p: UnsubAck, version: int) -> bytes:
    pid = p.packet_id.to_bytes(2, "big")
    if version == MQTT_5:
        return _frame(0xB0, pid + _props_bytes(p.properties, P.UNSUBACK) + bytes(p.reason_codes))
    return bytes((0xB0, 2)) + pid


def _encode_reason_packet(first: int, ptype: int, p, version: int) -> bytes:
    if version != MQTT_5:
        if ptype == P.AUTH:
            raise ValueError("AUTH does not exist in MQTT 3.1.1")
        return bytes((first, 0))
    if not p.properties:
        return bytes((first, 0)) if not p.reason_code else bytes((first, 1, p.reason_code))
    return _frame(first, bytes((p.reason_code,)) + _props_bytes(p.properties, ptype))


_ENCODERS = {
    Connect: _encode_connect,
    ConnAck: _encode_connack,
    Publish: _encode_publish,
    PubAck: _encode_ack, PubRec: _encode_ack, PubRel: _encode_ack, PubComp: _encode_ack,
    Subscribe: _encode_subscribe,
    SubAck: _encode_suback,
    Unsubscribe: _encode_unsubscribe,
    UnsubAck: _encode_unsuback,
    PingReq: lambda p, v: b"\xc0\x00",
    PingResp: lambda p, v: b"\xd0\x00",
    Disconnect: lambda p, v: _encode_reason_packet(0xE0, P.DISCONNECT, p, v),
    Auth: lambda p, v: _encode_reason_packet(0xF0, P.AUTH, p, v),
}


def encode(packet: Packet, version: int) -> bytes:
    """Server->client packets (and, for tests/load generators, client->server ones too).
    In 3.1.1 properties are left out, v5 reason codes of CONNACK map to 3.1.1 return codes
    (0x84->1, 0x85->2, 0x86->4, 0x87->5, other refusals -> 3) and SUBACK failures to 0x80."""
    return _ENCODERS[type(packet)](packet, version)
