"""A minimal MQTT 3.1.1 / 5.0 client over real sockets, for tests that need to see the
wire: CONNACK and SUBACK codes, MQTT 5 reason codes and properties, the server closing
the session. Written byte by byte on purpose (independent of the hub's codec), so a
codec bug cannot hide itself in both ends."""

from __future__ import annotations

import asyncio
import ssl as ssl_module
import struct
from typing import Any

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15
TIMEOUT = 10.0

# MQTT 5 properties used by the tests: name -> (id, type); types: b byte, h u16, i u32, v varint, s utf8, d binary
PROPS: dict[str, tuple[int, str]] = {
    "payload_format_indicator": (0x01, "b"), "message_expiry_interval": (0x02, "i"), "content_type": (0x03, "s"),
    "response_topic": (0x08, "s"), "correlation_data": (0x09, "d"), "subscription_identifier": (0x0B, "v"),
    "session_expiry_interval": (0x11, "i"), "assigned_client_identifier": (0x12, "s"),
    "server_keep_alive": (0x13, "h"), "authentication_method": (0x15, "s"), "authentication_data": (0x16, "d"),
    "request_problem_information": (0x17, "b"), "will_delay_interval": (0x18, "i"),
    "request_response_information": (0x19, "b"), "response_information": (0x1A, "s"),
    "server_reference": (0x1C, "s"), "reason_string": (0x1F, "s"), "receive_maximum": (0x21, "h"),
    "topic_alias_maximum": (0x22, "h"), "topic_alias": (0x23, "h"), "maximum_qos": (0x24, "b"),
    "retain_available": (0x25, "b"), "user_property": (0x26, "p"), "maximum_packet_size": (0x27, "i"),
    "wildcard_subscription_available": (0x28, "b"), "subscription_identifier_available": (0x29, "b"),
    "shared_subscription_available": (0x2A, "b"),
}
_BY_ID = {pid: (name, kind) for name, (pid, kind) in PROPS.items()}


def _str(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(raw)) + raw


def varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n % 128, n // 128
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([(kind << 4) | flags]) + varint(len(body)) + body


_packet = packet


def properties(props: dict[str, Any] | None) -> bytes:
    out = b""
    for name, value in (props or {}).items():
        pid, kind = PROPS[name]
        values = value if kind == "p" else [value]
        for v in values:
            out += bytes([pid])
            if kind == "b":
                out += bytes([v])
            elif kind == "h":
                out += struct.pack("!H", v)
            elif kind == "i":
                out += struct.pack("!I", v)
            elif kind == "v":
                out += varint(v)
            elif kind in "sd":
                out += _str(v)
            else:
                out += _str(v[0]) + _str(v[1])
    return varint(len(out)) + out


def parse_properties(data: bytes) -> tuple[dict[str, Any], bytes]:
    """(properties, the rest of ``data``)."""
    length, shift, i = 0, 0, 0
    while True:
        byte = data[i]
        i += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    raw, rest = data[i:i + length], data[i + length:]
    out: dict[str, Any] = {}
    j = 0
    while j < len(raw):
        name, kind = _BY_ID[raw[j]]
        j += 1
        if kind == "b":
            value, j = raw[j], j + 1
        elif kind == "h":
            value, j = struct.unpack("!H", raw[j:j + 2])[0], j + 2
        elif kind == "i":
            value, j = struct.unpack("!I", raw[j:j + 4])[0], j + 4
        elif kind == "v":
            value, shift = 0, 0
            while True:
                byte = raw[j]
                j += 1
                value |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
        else:
            n = struct.unpack("!H", raw[j:j + 2])[0]
            value, j = raw[j + 2:j + 2 + n], j + 2 + n
            if kind == "s":
                value = value.decode()
            elif kind == "p":
                m = struct.unpack("!H", raw[j:j + 2])[0]
                value, j = (value.decode(), raw[j + 2:j + 2 + m].decode()), j + 2 + m
                out.setdefault(name, []).append(value)
                continue
        out[name] = value
    return out, rest


class MqttWire:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, level: int = 4):
        self.reader, self.writer = reader, writer
        self.level = level
        self.messages: asyncio.Queue = asyncio.Queue()
        self.acks: asyncio.Queue = asyncio.Queue()
        self.eof = asyncio.Event()
        self.connack: dict[str, Any] = {}       # MQTT 5: the CONNACK's properties
        self.disconnect: tuple[int, dict] | None = None  # MQTT 5: the server's DISCONNECT (code, properties)
        self.auto_ack = True
        self._next_id = 0
        self._task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, port: int, level: int = 4, ssl: ssl_module.SSLContext | None = None,
                   server_hostname: str | None = None) -> MqttWire:
        """A connected socket, nothing sent yet (for tests that write raw bytes)."""
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            "127.0.0.1", port, ssl=ssl, server_hostname=server_hostname if ssl else None), TIMEOUT)
        return cls(reader, writer, level)

    @classmethod
    async def connect(cls, port: int, client_id: str = "", username: str | None = None, password: str | None = None,
                      ssl: ssl_module.SSLContext | None = None, server_hostname: str | None = None,
                      level: int = 4, keep_alive: int = 60, clean: bool = True,
                      props: dict[str, Any] | None = None) -> tuple[MqttWire | None, int]:
        """(client, CONNACK return / reason code); the client is None unless the code is 0."""
        client = await cls.open(port, level, ssl, server_hostname)
        flags = (0x02 if clean else 0) | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
        body = _str("MQTT") + bytes([level, flags]) + struct.pack("!H", keep_alive)
        if level == 5:
            body += properties(props)
        body += _str(client_id)
        if username is not None:
            body += _str(username)
        if password is not None:
            body += _str(password)
        client.writer.write(packet(CONNECT, 0, body))
        ack = await client._ack_or_eof()
        if ack is None:  # closed without a CONNACK (e.g. TLS refused the client certificate)
            await client.close()
            raise ConnectionResetError("server closed the connection before CONNACK")
        kind, payload = ack
        assert kind == CONNACK, kind
        rc = payload[1]
        if level == 5 and len(payload) > 2:
            client.connack = parse_properties(payload[2:])[0]
        if rc != 0:
            await client.close()
            return None, rc
        return client, rc

    async def _read(self) -> None:
        try:
            while True:
                head = await self.reader.readexactly(1)
                length, shift = 0, 0
                while True:
                    byte = (await self.reader.readexactly(1))[0]
                    length |= (byte & 0x7F) << shift
                    shift += 7
                    if not byte & 0x80:
                        break
                body = await self.reader.readexactly(length) if length else b""
                kind, flags = head[0] >> 4, head[0] & 0x0F
                if kind == PUBLISH:
                    qos = (flags >> 1) & 3
                    n = struct.unpack("!H", body[:2])[0]
                    topic, rest = body[2:2 + n].decode(), body[2 + n:]
                    if qos:
                        if self.auto_ack:
                            self.writer.write(packet(PUBACK, 0, rest[:2]))
                        rest = rest[2:]
                    props = {}
                    if self.level == 5:
                        props, rest = parse_properties(rest)
                    await self.messages.put((topic, rest, qos) if self.level != 5 else (topic, rest, qos, props))
                elif kind == DISCONNECT and self.level == 5:
                    code = body[0] if body else 0
                    props = parse_properties(body[1:])[0] if len(body) > 1 else {}
                    self.disconnect = (code, props)
                else:
                    await self.acks.put((kind, body))
        except (asyncio.IncompleteReadError, ConnectionError, ssl_module.SSLError):
            pass
        finally:
            self.eof.set()

    def _id(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    async def subscribe(self, topic: str, qos: int = 0) -> int | None:
        """The SUBACK return code: the granted QoS, or 0x80 (0x87 in MQTT 5) for a refusal;
        None if the server closed the connection instead of answering."""
        body = struct.pack("!H", self._id()) + (properties(None) if self.level == 5 else b"") + _str(topic)
        self.writer.write(packet(SUBSCRIBE, 2, body + bytes([qos])))
        ack = await self._ack_or_eof()
        if ack is None:
            return None
        kind, body = ack
        assert kind == SUBACK, kind
        if self.level == 5:
            return parse_properties(body[2:])[1][0]
        return body[2]

    async def _ack_or_eof(self):
        """The next acknowledgement, or None if the server closed the connection first."""
        ack = asyncio.ensure_future(self.acks.get())
        eof = asyncio.ensure_future(self.eof.wait())
        await asyncio.wait([ack, eof], timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        eof.cancel()
        if ack.done():
            return ack.result()
        ack.cancel()
        assert self.eof.is_set(), "no acknowledgement within the time limit"
        return None

    def publish_bytes(self, topic: str, payload: bytes | str, qos: int = 0, packet_id: int | None = None,
                      props: dict[str, Any] | None = None, dup: bool = False) -> bytes:
        data = payload.encode() if isinstance(payload, str) else payload
        ident = struct.pack("!H", packet_id or self._id()) if qos else b""
        prop_bytes = properties(props) if self.level == 5 else b""
        return packet(PUBLISH, (qos << 1) | (0x08 if dup else 0), _str(topic) + ident + prop_bytes + data)

    async def publish(self, topic: str, payload: bytes | str, qos: int = 0,
                      props: dict[str, Any] | None = None) -> int | None:
        """Publish; for QoS 1 wait for the PUBACK and return its reason code (None: closed)."""
        self.writer.write(self.publish_bytes(topic, payload, qos, props=props))
        await self.writer.drain()
        if qos == 1:
            ack = await self._ack_or_eof()
            if ack is None:
                return None
            kind, body = ack
            assert kind == PUBACK, kind
            return body[2] if len(body) > 2 else 0
        return None

    async def message(self, timeout: float = TIMEOUT) -> tuple:
        return await asyncio.wait_for(self.messages.get(), timeout)

    async def ack(self, timeout: float = TIMEOUT) -> tuple[int, bytes]:
        return await asyncio.wait_for(self.acks.get(), timeout)

    async def closed_by_server(self, timeout: float = TIMEOUT) -> bool:
        try:
            await asyncio.wait_for(self.eof.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        if not self.writer.is_closing():
            try:
                self.writer.write(packet(DISCONNECT, 0, b""))
            except Exception:
                pass
            self.writer.close()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
