"""A minimal MQTT 3.1.1 client over real sockets, for tests that need to see the wire:
the CONNACK return code, a SUBACK failure, the server closing the session."""

from __future__ import annotations

import asyncio
import ssl as ssl_module
import struct

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, DISCONNECT = 1, 2, 3, 4, 8, 9, 14
TIMEOUT = 10.0


def _str(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(raw)) + raw


def _packet(kind: int, flags: int, body: bytes) -> bytes:
    n, length = len(body), b""
    while True:
        byte, n = n % 128, n // 128
        length += bytes([byte | (0x80 if n else 0)])
        if not n:
            return bytes([(kind << 4) | flags]) + length + body


class MqttWire:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.messages: asyncio.Queue = asyncio.Queue()
        self.acks: asyncio.Queue = asyncio.Queue()
        self.eof = asyncio.Event()
        self._next_id = 0
        self._task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, port: int, client_id: str = "", username: str | None = None, password: str | None = None,
                      ssl: ssl_module.SSLContext | None = None, server_hostname: str | None = None,
                      level: int = 4) -> tuple["MqttWire | None", int]:
        """(client, CONNACK return code); the client is None unless the code is 0."""
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            "127.0.0.1", port, ssl=ssl, server_hostname=server_hostname if ssl else None), TIMEOUT)
        flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
        body = _str("MQTT") + bytes([level, flags]) + struct.pack("!H", 60) + _str(client_id)
        if username is not None:
            body += _str(username)
        if password is not None:
            body += _str(password)
        client = cls(reader, writer)
        writer.write(_packet(CONNECT, 0, body))
        ack = await client._ack_or_eof()
        if ack is None:  # closed without a CONNACK (e.g. TLS refused the client certificate)
            await client.close()
            raise ConnectionResetError("server closed the connection before CONNACK")
        kind, payload = ack
        assert kind == CONNACK, kind
        rc = payload[1]
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
                        self.writer.write(_packet(PUBACK, 0, rest[:2]))
                        rest = rest[2:]
                    await self.messages.put((topic, rest, qos))
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
        """The SUBACK return code: the granted QoS, or 0x80 for a refusal; None if the
        server closed the connection instead of answering."""
        self.writer.write(_packet(SUBSCRIBE, 2, struct.pack("!H", self._id()) + _str(topic) + bytes([qos])))
        ack = await self._ack_or_eof()
        if ack is None:
            return None
        kind, body = ack
        assert kind == SUBACK, kind
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

    async def publish(self, topic: str, payload: bytes | str, qos: int = 0) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        ident = struct.pack("!H", self._id()) if qos else b""
        self.writer.write(_packet(PUBLISH, qos << 1, _str(topic) + ident + data))
        await self.writer.drain()
        if qos == 1:
            kind, _ = await asyncio.wait_for(self.acks.get(), TIMEOUT)
            assert kind == PUBACK, kind

    async def message(self, timeout: float = TIMEOUT) -> tuple[str, bytes, int]:
        return await asyncio.wait_for(self.messages.get(), timeout)

    async def closed_by_server(self, timeout: float = TIMEOUT) -> bool:
        try:
            await asyncio.wait_for(self.eof.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def close(self) -> None:
        if not self.writer.is_closing():
            try:
                self.writer.write(_packet(DISCONNECT, 0, b""))
            except Exception:
                pass
            self.writer.close()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
