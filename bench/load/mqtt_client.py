"""A small MQTT 3.1.1 client on asyncio's Protocol API, for load generation.

Why not a library client: paho (and amqtt's client) spend more CPU per message than the
server under test, so the load generator, not the server, would set the figure. This
one parses packets straight out of the receive buffer and writes without awaiting
anything for QoS 0, which keeps one process on one core ahead of a Python server (not
of Mosquitto: the Mosquitto rows are probably limited by this client).
Only what the benchmarks use: CONNECT/CONNACK, SUBSCRIBE/SUBACK, PUBLISH QoS 0/1
(both directions), PUBACK, PINGREQ, DISCONNECT.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, PINGREQ, DISCONNECT = 1, 2, 3, 4, 8, 9, 12, 14
TIMEOUT_S = 10.0
KEEP_ALIVE_S = 60
_DISCONNECT = bytes([DISCONNECT << 4, 0])
_PINGREQ = bytes([PINGREQ << 4, 0])


def _str(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(raw)) + raw


def packet(kind: int, flags: int, body: bytes) -> bytes:
    n, length = len(body), bytearray()
    while True:
        byte, n = n % 128, n // 128
        length.append(byte | (0x80 if n else 0))
        if not n:
            return bytes([(kind << 4) | flags]) + bytes(length) + body


class MqttClient(asyncio.Protocol):
    """One connection. ``on_message(topic, payload)`` sees every PUBLISH the server sends."""

    def __init__(self, on_message: Callable[[str, bytes], None] | None = None):
        loop = asyncio.get_running_loop()
        self.on_message = on_message
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._connack: asyncio.Future = loop.create_future()
        self._acks: dict[tuple[int, int], asyncio.Future] = {}
        self.lost: asyncio.Future = loop.create_future()
        self._next_id = 0

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)
        error = ConnectionResetError("connection closed by the server")
        for fut in [self._connack, *self._acks.values()]:
            if not fut.done():
                fut.set_exception(error)
        self._acks.clear()

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        pos, end = 0, len(buf)
        while end - pos >= 2:
            length, shift, i, complete = 0, 0, pos + 1, False
            while i < end and i < pos + 5:  # the remaining length: at most four bytes
                byte = buf[i]
                length |= (byte & 0x7F) << shift
                shift += 7
                i += 1
                if not byte & 0x80:
                    complete = True
                    break
            if not complete or i + length > end:
                break
            self._dispatch(buf[pos], bytes(buf[i:i + length]))
            pos = i + length
        del buf[:pos]

    def _dispatch(self, head: int, body: bytes) -> None:
        kind = head >> 4
        if kind == PUBLISH:
            qos = (head >> 1) & 3
            n = (body[0] << 8) | body[1]
            topic, rest = body[2:2 + n].decode(), body[2 + n:]
            if qos:
                self.transport.write(packet(PUBACK, 0, rest[:2]))
                rest = rest[2:]
            if self.on_message is not None:
                self.on_message(topic, rest)
        elif kind == CONNACK:
            if not self._connack.done():
                self._connack.set_result(body[1])
        elif kind in (SUBACK, PUBACK):
            fut = self._acks.pop((kind, (body[0] << 8) | body[1]), None)
            if fut is not None and not fut.done():
                fut.set_result(body[2] if kind == SUBACK else 0)

    # -- client calls ----------------------------------------------------------------

    @classmethod
    async def open(cls, port: int, client_id: str, username: str | None = None, password: str | None = None,
                   on_message: Callable[[str, bytes], None] | None = None,
                   timeout: float = TIMEOUT_S, source: str | None = None,
                   keep_alive: int = KEEP_ALIVE_S) -> tuple[MqttClient, int]:
        """(client, CONNACK return code). A refused client is closed already. ``source``: the
        local address to connect from (127.0.0.x: more than one address's worth of
        ephemeral ports, for tens of thousands of sessions)."""
        loop = asyncio.get_running_loop()
        _, client = await asyncio.wait_for(
            loop.create_connection(lambda: cls(on_message), "127.0.0.1", port,
                                   local_addr=(source, 0) if source else None), timeout)
        flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
        body = _str("MQTT") + bytes([4, flags]) + struct.pack("!H", keep_alive) + _str(client_id)
        if username is not None:
            body += _str(username)
        if password is not None:
            body += _str(password)
        client.transport.write(packet(CONNECT, 0, body))
        try:
            rc = await asyncio.wait_for(asyncio.shield(client._connack), timeout)
        except BaseException:
            client.abort()
            raise
        if rc != 0:
            client.abort()
        return client, rc

    def _ident(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    def _expect(self, kind: int, ident: int) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        if self.lost.done():
            fut.set_exception(ConnectionResetError("connection closed by the server"))
        else:
            self._acks[(kind, ident)] = fut
        return fut

    async def subscribe(self, topic: str, qos: int = 0, timeout: float = TIMEOUT_S) -> int:
        """The SUBACK code: the granted QoS, or 0x80 for a refusal."""
        ident = self._ident()
        fut = self._expect(SUBACK, ident)
        self.transport.write(packet(SUBSCRIBE, 2, struct.pack("!H", ident) + _str(topic) + bytes([qos])))
        return await asyncio.wait_for(fut, timeout)

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> asyncio.Future | None:
        """QoS 0: written at once, nothing to wait for. QoS 1: a future for the PUBACK."""
        if qos == 0:
            self.transport.write(packet(PUBLISH, 0, _str(topic) + payload))
            return None
        ident = self._ident()
        fut = self._expect(PUBACK, ident)
        self.transport.write(packet(PUBLISH, 2, _str(topic) + struct.pack("!H", ident) + payload))
        return fut

    def ping(self) -> None:
        """PINGREQ (the PINGRESP is ignored): what keeps an idle session inside its keep-alive."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_PINGREQ)

    async def disconnect(self, timeout: float = TIMEOUT_S) -> None:
        """DISCONNECT, then wait for the server to close the socket (so the TIME_WAIT
        state stays on its side and the load's ephemeral ports are not used up)."""
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(_DISCONNECT)
        try:
            await asyncio.wait_for(asyncio.shield(self.lost), timeout)
        except TimeoutError:
            pass
        finally:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
