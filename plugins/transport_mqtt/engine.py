"""The broker engine: amqtt, kept behind this one module so it could be swapped
without touching the hub's logic (``gate.py``), which sees only :class:`Connection`.

How amqtt is used, and why:
- Both listeners are "external": the hub owns the sockets (plain and TLS, with its
  own SSL context, whose trust store follows the hub's X.509 credentials) and hands
  each connection to ``Broker.external_connected``. A port in use is then a plain
  ``OSError`` here, and the TLS context is ours to update while running.
- The broker gets exactly one plugin, :class:`HubPlugin`, as authentication and topic
  filter: given no plugin list, amqtt would let anonymous clients in.
- Topic filtering denies every PUBLISH: the hub handles publishes itself (from
  ``on_broker_message_received``) and answers one session, so amqtt never fans a
  device's message out to other sessions subscribed to the same ``v1/devices/me/...``.
- Every session's client id is replaced, while it is authenticated, by one that
  starts with an unguessable token. amqtt keys sessions by client id and, for a clean
  session, drops the stored session of that id *before* authenticating the newcomer,
  so with raw client ids any unauthenticated client could evict (and take the place
  of) a device's session by reusing its client id; two provisioning clients that both
  use the client id ``provision`` would also collide. The price: MQTT "session
  takeover" and persistent sessions do not apply (the hub keeps no offline state).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from typing import Any

from amqtt.adapters import StreamReaderAdapter, StreamWriterAdapter
from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin

from gridlinks.plugins.transport_mqtt.gate import MqttGate
from gridlinks.plugins.transport_mqtt.sessions import Connection

log = logging.getLogger(__name__)

PLAIN, TLS = "default", "tls"
ACK_TIMEOUT_S = 10
STOP_TIMEOUT_S = 5
_CHATTY_LOGGERS = ("amqtt", "transitions")


class HubPlugin(BaseAuthPlugin, BaseTopicPlugin):
    """amqtt's view of the hub: every callback goes to the :class:`AmqttEngine`."""

    @dataclass
    class Config:
        engine: Any = None

    @property
    def engine(self) -> "AmqttEngine":
        return self.config.engine

    async def authenticate(self, *, session) -> bool:
        return await self.engine.on_connect(session)

    async def topic_filtering(self, *, session=None, topic=None, action=None) -> bool:
        return self.engine.on_topic(session, topic, action)

    async def on_broker_message_received(self, *, client_id, message) -> None:
        await self.engine.on_message(client_id, message)

    async def on_broker_client_subscribed(self, *, client_id, topic, qos) -> None:
        conn = self.engine.connections.get(client_id)
        if conn is not None:
            conn.subscriptions[topic] = qos

    async def on_broker_client_unsubscribed(self, *, client_id, topic) -> None:
        conn = self.engine.connections.get(client_id)
        if conn is not None:
            conn.subscriptions.pop(topic, None)


class _ConnectDeadline(StreamReaderAdapter):
    """amqtt waits for the CONNECT packet for ever: a client that opens a socket and
    sends nothing would hold it open. Until the session is accepted, every read must
    finish by the deadline; a late one reads as end of stream, which amqtt handles."""

    def __init__(self, reader: asyncio.StreamReader, conn: Connection, timeout_s: float):
        super().__init__(reader)
        self.conn = conn
        self.deadline = asyncio.get_running_loop().time() + timeout_s

    async def read(self, n: int = -1) -> bytes:
        if self.conn.policy is not None:
            return await super().read(n)
        remaining = self.deadline - asyncio.get_running_loop().time()
        try:
            return await asyncio.wait_for(super().read(n), max(remaining, 0))
        except asyncio.TimeoutError:
            return b""


class AmqttEngine:
    """Runs amqtt on the hub's own sockets; implements :class:`sessions.Link`."""

    def __init__(self, gate: MqttGate, bind: str, port: int, tls_port: int, ssl_context: ssl.SSLContext,
                 handshake_timeout_s: float, connect_timeout_s: float):
        self.gate = gate
        self.bind, self.port, self.tls_port = bind, port, tls_port
        self.ssl_context = ssl_context
        self.handshake_timeout_s = handshake_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.connections: dict[str, Connection] = {}  # by the client id amqtt knows the session by
        self._connecting: dict[tuple[str, int, bool], Connection] = {}
        self._writers: dict[str, asyncio.StreamWriter] = {}
        self._sessions: dict[str, Any] = {}
        self._broker: Broker | None = None
        self._servers: list[asyncio.AbstractServer] = []

    # -- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Raises OSError (with ``.port`` set) when a port cannot be bound."""
        config = {
            "listeners": {PLAIN: {"type": "external"}, TLS: {"type": "external"}},
            "plugins": {f"{HubPlugin.__module__}.{HubPlugin.__qualname__}": {"engine": self}},
            # Disconnected sessions are forgotten at once: the hub keeps no offline state.
            "session_expiry_interval": 0,
        }
        for name in _CHATTY_LOGGERS:  # they log every connection and state change at INFO
            if logging.getLogger(name).level == logging.NOTSET:
                logging.getLogger(name).setLevel(logging.WARNING)
        self._broker = Broker(config)
        await self._broker.start()
        try:
            for port, listener, ctx in ((self.port, PLAIN, None), (self.tls_port, TLS, self.ssl_context)):
                try:
                    server = await asyncio.start_server(
                        lambda r, w, name=listener: self._serve(r, w, name), self.bind, port, ssl=ctx,
                        ssl_handshake_timeout=self.handshake_timeout_s if ctx else None, reuse_address=True)
                except OSError as exc:
                    exc.port = port
                    raise
                self._servers.append(server)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for writer in list(self._writers.values()):
            writer.close()
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
        for server in self._servers:
            try:
                await asyncio.wait_for(server.wait_closed(), STOP_TIMEOUT_S)
            except asyncio.TimeoutError:
                log.warning("MQTT: connections still open after %s s at shutdown", STOP_TIMEOUT_S)
        self._servers.clear()

    # -- one connection ---------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener: str) -> None:
        peer = writer.get_extra_info("peername")
        if not peer or self._broker is None:
            writer.close()
            return
        ssl_object = writer.get_extra_info("ssl_object")
        conn = Connection(self, tls=ssl_object is not None, peer=(peer[0], peer[1]), ssl_object=ssl_object)
        key = (peer[0], peer[1], conn.tls)
        self._connecting[key] = conn
        self._writers[conn.id] = writer
        try:
            await self._broker.external_connected(_ConnectDeadline(reader, conn, self.connect_timeout_s),
                                                  StreamWriterAdapter(writer), listener)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
            log.debug("MQTT connection from %s ended: %r", conn.describe(), exc)
        except Exception:
            log.exception("MQTT connection from %s failed", conn.describe())
        finally:
            self._connecting.pop(key, None)
            self._writers.pop(conn.id, None)
            self._forget(conn)
            writer.close()

    def _forget(self, conn: Connection) -> None:
        session = self._sessions.pop(conn.id, None)
        if session is not None:
            self.connections.pop(session.client_id, None)
            # amqtt leaves a refused session marked "connected"; marked disconnected,
            # its session monitor drops it (else every refused login would stay in memory).
            if session.transitions.state == "connected":
                session.transitions.disconnect()
        self.gate.closed(conn)

    async def on_connect(self, session) -> bool:
        conn = self._connecting.pop((session.remote_address, session.remote_port, session.ssl_object is not None),
                                    None)
        if conn is None:
            return False
        conn.client_id, conn.username, conn.password = session.client_id, session.username, session.password
        session.client_id = f"{conn.id}|{session.client_id}"
        self._sessions[conn.id] = session
        try:
            allowed = await self.gate.authenticate(conn)
        except Exception:
            log.exception("MQTT authentication of %s failed", conn.describe())
            allowed = False
        if allowed:
            self.connections[session.client_id] = conn
        return allowed

    def on_topic(self, session, topic: str | None, action) -> bool:
        conn = self.connections.get(session.client_id) if session is not None else None
        if conn is None or topic is None:
            return False
        if action == Action.SUBSCRIBE:
            return self.gate.may_subscribe(conn, topic)
        return False  # PUBLISH: handled by the hub; RECEIVE: nothing is ever broadcast

    async def on_message(self, client_id: str, message) -> None:
        conn = self.connections.get(client_id)
        if conn is None or message is None or not message.topic:
            return
        await self.gate.on_publish(conn, message.topic, bytes(message.data or b""))

    # -- Link ------------------------------------------------------------------------------

    async def send(self, conn: Connection, topic: str, payload: bytes, qos: int) -> None:
        session = self._sessions.get(conn.id)
        if self._broker is None or session is None:
            return
        # The one reach past amqtt's plugin API: it has no call to publish to a single
        # session, so the session's protocol handler is taken from the broker's session
        # table (Broker.sessions: client id -> (Session, BrokerProtocolHandler)).
        entry = self._broker.sessions.get(session.client_id)
        if entry is None or entry[0] is not session:
            return
        try:
            await entry[1].mqtt_publish(topic, payload, qos, retain=False, ack_timeout=ACK_TIMEOUT_S)
        except asyncio.TimeoutError:
            conn.close(f"no acknowledgement within {ACK_TIMEOUT_S} s")

    def close(self, conn: Connection) -> None:
        writer = self._writers.get(conn.id)
        if writer is not None:
            writer.close()
