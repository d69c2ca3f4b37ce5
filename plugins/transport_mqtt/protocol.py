"""One MQTT connection, MQTT 3.1.1 and 5.0 alike: bytes in, packets out.

An :class:`asyncio.Protocol` (no stream reader, no task while idle) that feeds the
codec's :class:`Decoder` and answers with :func:`encode`. The protocol version is the
CONNECT's; the session layer is the same for both, differences are where the spec has
them (reason codes, properties, what a refusal looks like).

How a connection's packets are handled, and why:
- In order: each packet is handled after the previous one. Packets needing no await
  (PINGREQ, SUBSCRIBE, a telemetry PUBLISH) are handled right in ``data_received``;
  the first one that needs an await (CONNECT's authentication, a provision request, an
  attribute write) starts the connection's one worker task, and every later packet
  queues behind it until the worker has drained the queue and ended.
- Acknowledged means committed: telemetry hands back the group writer's commit future;
  its PUBACK (QoS 1) or PUBREC (QoS 2) is written when the future resolves, never
  before, and acknowledgements go out in the order the publishes came in. Reading goes
  on meanwhile (the next publishes are handled while earlier ones commit), bounded by
  Receive Maximum (QoS 1/2 in flight), ``max_pending_messages`` (queued packets and
  unsettled QoS 0 commits) and ``read_buffer_bytes``: at a bound the socket is paused,
  not the hub.
- Bad input ends the connection, with an MQTT 5 DISCONNECT carrying the codec's reason
  code first; nothing a client sends raises out of this module.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from typing import TYPE_CHECKING, Any

from gridlinks.core.errors import BadRequest, HubError
from gridlinks.plugins.transport_mqtt.codec import (
    MQTT_5,
    ConnAck,
    Connect,
    Decoder,
    Disconnect,
    MalformedPacket,
    PingReq,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    UnsubAck,
    Unsubscribe,
    UnsupportedProtocol,
    encode,
)
from gridlinks.plugins.transport_mqtt.sessions import (
    NOT_AUTHORIZED,
    PAYLOAD_FORMAT_INVALID,
    UNSPECIFIED,
    Connection,
)

if TYPE_CHECKING:
    from gridlinks.plugins.transport_mqtt.server import MqttServer

log = logging.getLogger(__name__)

# v5 reason codes (SPEC.md section 4)
NO_SUBSCRIPTION_EXISTED = 0x11
PROTOCOL_ERROR = 0x82
BAD_USER_NAME_OR_PASSWORD = 0x86
SERVER_SHUTTING_DOWN = 0x8B
BAD_AUTHENTICATION_METHOD = 0x8C
KEEP_ALIVE_TIMEOUT = 0x8D
RECEIVE_MAXIMUM_EXCEEDED = 0x93
TOPIC_ALIAS_INVALID = 0x94
QUOTA_EXCEEDED = 0x97
# MQTT 3.1.1 CONNACK return codes
RC_BAD_PROTOCOL, RC_UNAVAILABLE, RC_NOT_AUTHORISED = 1, 3, 5

PINGRESP = b"\xd0\x00"
_V311_BAD_PROTOCOL = bytes((0x20, 2, 0, RC_BAD_PROTOCOL))
_AWAIT = object()  # queue marker: (_AWAIT, coroutine, publish) continues a publish in the worker


def _ack_bytes(kind: int, packet_id: int) -> bytes:
    """PUBACK (0x40), PUBREC (0x50), PUBCOMP (0x70) with reason 0 and no properties:
    the same four bytes in both versions; the hot path skips the codec."""
    return bytes((kind, 2, packet_id >> 8, packet_id & 0xFF))


class MqttProtocol(asyncio.Protocol):
    """One connection; implements :class:`sessions.Link` for its :class:`Connection`."""

    __slots__ = ("server", "transport", "decoder", "conn", "version", "opened", "last_read", "keep_alive_s",
                 "closing", "queue", "queued_bytes", "worker", "acks", "inflight", "unsettled", "qos2",
                 "out_ids", "next_id", "out_waiters", "aliases", "client_max_packet", "client_receive_max",
                 "problem_info", "paused", "connecting", "out")

    def __init__(self, server: MqttServer):
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.decoder = Decoder(server.settings.max_packet_size)
        self.conn: Connection | None = None
        self.version = 0                    # the CONNECT's protocol level once it arrived
        self.opened = self.last_read = server.loop.time()
        self.keep_alive_s = 0.0             # silence allowed (1.5x keep alive); 0: none
        self.closing = False
        self.connecting = False             # CONNECT received, being authenticated
        self.queue: deque | None = None     # packets waiting for the worker, in order
        self.queued_bytes = 0
        self.worker: asyncio.Task | None = None
        self.acks: deque | None = None      # [packet id, qos, commit future] in arrival order
        self.inflight = 0                   # QoS 1/2 publishes received, not yet acknowledged
        self.unsettled = 0                  # QoS 0 telemetry not yet committed
        self.qos2: set[int] | None = None   # QoS 2 ids between PUBREC and PUBREL
        self.out_ids: dict[int, float] | None = None  # our QoS 1 publishes awaiting PUBACK
        self.next_id = 0
        self.out_waiters: deque | None = None
        self.aliases: dict[int, str] | None = None
        self.client_max_packet = 0          # the client's Maximum Packet Size; 0: none given
        self.client_receive_max = 65_535
        self.problem_info = True
        self.paused = False
        self.out: list[bytes] | None = None  # written this pass of the event loop, not yet sent

    # -- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.server.lost(self)
        conn = self.conn
        if conn is not None:
            self.server.gate.closed(conn)
        if self.out_waiters:
            for waiter in self.out_waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self.out_waiters = None

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.last_read = self.server.loop.time()
        bad = None
        try:
            packets = self.decoder.feed(data)
        except MalformedPacket as exc:
            packets, bad = exc.packets, exc  # the packets before the bad one still count
        except Exception:  # a codec bug must not become a traceback per connection
            log.exception("MQTT: undecodable input from %s", self._peer())
            self._abort()
            return
        if packets:
            self._received(packets)
        if bad is not None:
            self._malformed(bad)

    def _received(self, packets: list) -> None:
        for packet in packets:
            if self.closing:
                return
            if type(packet) is Publish and packet.qos:
                # Counted on arrival, so a client that does not wait for its acknowledgements
                # is caught however far behind the handling is.
                self.inflight += 1
                if self.inflight > self.server.settings.receive_maximum and self.version == MQTT_5:
                    self.disconnect(RECEIVE_MAXIMUM_EXCEEDED, "more QoS 1/2 publishes in flight than Receive Maximum")
                    return
            if self.queue:
                self._enqueue(packet)
            else:
                self._handle_now(packet)

    def eof_received(self) -> bool | None:
        return None  # close the transport

    def pause_writing(self) -> None:
        pass  # see _write: a session that does not read its replies is closed at a bound

    def resume_writing(self) -> None:
        pass

    # -- dispatch -----------------------------------------------------------------------

    def _handle_now(self, packet: Any) -> None:
        """Handle a packet with nothing queued before it; what needs an await goes to the worker."""
        kind = type(packet)
        try:
            if kind is Publish:
                pending = self._publish(packet)
                if pending is not None:
                    self._enqueue((_AWAIT, pending, packet))
            elif kind is PingReq:
                self._write(PINGRESP)
            elif kind is PubAck:
                self._puback(packet.packet_id)
            elif kind is PubRel:
                self._pubrel(packet)
            elif kind is Subscribe:
                self._subscribe(packet)
            elif kind is Unsubscribe:
                self._unsubscribe(packet)
            elif kind is Connect:
                self.connecting = True
                self._enqueue(packet)
            elif kind is Disconnect:
                self._client_disconnect(packet)
            elif kind is PubRec or kind is PubComp:
                self._puback(packet.packet_id)  # the hub never sends QoS 2; treat as an ack
            else:  # AUTH: no authentication method was agreed in CONNECT
                self.disconnect(BAD_AUTHENTICATION_METHOD, "enhanced authentication is not supported")
        except Exception:
            log.exception("MQTT: %s from %s could not be handled", kind.__name__, self._peer())
            self.disconnect(UNSPECIFIED, "internal error")

    def _enqueue(self, item: Any) -> None:
        if self.queue is None:
            self.queue = deque()
        self.queue.append(item)
        if type(item) is Publish:
            self.queued_bytes += len(item.payload)
        if self.worker is None:
            self.worker = self.server.loop.create_task(self._work())
            self.server.workers.add(self.worker)
        self._flow()

    async def _work(self) -> None:
        queue = self.queue
        try:
            while queue:
                item = queue[0]
                try:
                    await self._handle_queued(item)
                except Exception:
                    log.exception("MQTT: a packet from %s could not be handled", self._peer())
                    self.disconnect(UNSPECIFIED, "internal error")
                queue.popleft()
                if type(item) is Publish:
                    self.queued_bytes -= len(item.payload)
                if self.paused:
                    self._flow()
        finally:
            self.server.workers.discard(self.worker)
            self.worker = None
            queue.clear()
            self.queued_bytes = 0

    async def _handle_queued(self, item: Any) -> None:
        if type(item) is tuple:  # a publish that began in data_received
            await self._finish_publish(item[1], item[2])
            return
        if type(item) is Connect:
            await self._connect(item)
            return
        if self.conn is None or (self.closing and type(item) is not Publish):
            return
        if type(item) is Publish:
            pending = self._publish(item)
            if pending is not None:
                await self._finish_publish(pending, item)
        else:
            self._handle_now(item)

    # -- CONNECT -------------------------------------------------------------------------

    async def _connect(self, packet: Connect) -> None:
        server, settings = self.server, self.server.settings
        self.version = packet.protocol_level
        v5 = self.version == MQTT_5
        props = packet.properties
        if v5 and "authentication_method" in props:
            return self._refuse_connect(BAD_AUTHENTICATION_METHOD, RC_NOT_AUTHORISED,
                                        "enhanced authentication is not supported")
        client_id = packet.client_id
        assigned = None
        if not client_id and v5:  # (3.1.1 with clean session 0: refused by the codec, MQTT-3.1.3-8)
            assigned = client_id = "gl-" + secrets.token_hex(8)
        if server.sessions >= settings.max_connections:
            log.warning("MQTT: connection from %s refused: mqtt.max_connections (%d) reached", self._peer(),
                        settings.max_connections)
            return self._refuse_connect(QUOTA_EXCEEDED, RC_UNAVAILABLE, "too many connections")
        transport = self.transport
        peer = transport.get_extra_info("peername") or ("?", 0)
        ssl_object = transport.get_extra_info("ssl_object")
        conn = Connection(self, tls=ssl_object is not None, peer=(peer[0], peer[1]), ssl_object=ssl_object)
        conn.client_id = client_id
        conn.username = packet.username
        conn.password = None if packet.password is None else packet.password.decode("utf-8", "surrogateescape")
        try:
            allowed = await server.gate.authenticate(conn)
        except Exception:
            log.exception("MQTT authentication of %s failed", conn.describe())
            allowed = False
        self.connecting = False
        if self.closing:  # the client left while we were deciding
            if allowed:
                server.gate.closed(conn)
            return
        if not allowed:
            code = BAD_USER_NAME_OR_PASSWORD if packet.username is not None or packet.password is not None \
                else NOT_AUTHORIZED
            return self._refuse_connect(code, RC_NOT_AUTHORISED, None)
        self.conn = conn
        server.sessions += 1
        keep_alive = packet.keep_alive
        out: dict[str, Any] = {}
        if keep_alive == 0 or keep_alive > settings.max_keep_alive_s:
            keep_alive = settings.max_keep_alive_s
            if v5:
                out["server_keep_alive"] = keep_alive
        self.keep_alive_s = keep_alive * 1.5
        if v5:
            self.client_receive_max = props.get("receive_maximum", 65_535)
            self.client_max_packet = props.get("maximum_packet_size", 0)
            self.problem_info = props.get("request_problem_information", 1) != 0
            if assigned is not None:
                out["assigned_client_identifier"] = assigned
            if props.get("session_expiry_interval"):
                out["session_expiry_interval"] = 0  # the hub keeps no offline state
            if settings.receive_maximum != 65_535:
                out["receive_maximum"] = settings.receive_maximum
            out["maximum_packet_size"] = settings.max_packet_size
            if settings.topic_alias_maximum:
                out["topic_alias_maximum"] = settings.topic_alias_maximum
            out["retain_available"] = 0
            out["shared_subscription_available"] = 0
            out["subscription_identifier_available"] = 0
        self._send_packet(ConnAck(session_present=False, reason_code=0, properties=out))

    def _refuse_connect(self, v5_code: int, v311_code: int, reason: str | None) -> None:
        if self.version == MQTT_5:
            props = {"reason_string": reason} if reason else {}
            self._send_packet(ConnAck(session_present=False, reason_code=v5_code, properties=props))
        else:
            self._send_packet(ConnAck(session_present=False, reason_code=v311_code, properties={}))
        self._close()

    # -- PUBLISH ----------------------------------------------------------------------------

    def _publish(self, packet: Publish) -> Any:
        """Handle a publish as far as it goes without awaiting; a coroutine to await if it
        has to (the caller then calls :meth:`_finish_publish`), else None."""
        conn = self.conn
        qos = packet.qos
        if qos == 2 and self.qos2 is not None and packet.packet_id in self.qos2:
            self.inflight -= 1
            self._write(_ack_bytes(0x50, packet.packet_id))  # a resent QoS 2 publish: handled once
            return None
        topic = packet.topic
        if self.version == MQTT_5 and packet.properties:
            alias = packet.properties.get("topic_alias")
            if alias is not None:
                if not 0 < alias <= self.server.settings.topic_alias_maximum:
                    self.disconnect(TOPIC_ALIAS_INVALID, f"topic alias {alias} is out of range")
                    return None
                if topic:
                    if self.aliases is None:
                        self.aliases = {}
                    self.aliases[alias] = topic
                else:
                    topic = (self.aliases or {}).get(alias, "")
                    if not topic:
                        self.disconnect(PROTOCOL_ERROR, f"topic alias {alias} was never set")
                        return None
        if not topic:
            self.disconnect(PROTOCOL_ERROR, "PUBLISH without a topic")
            return None
        if conn.refused:
            return None
        refusal = self.server.gate.refuse_publish(conn, topic, packet.payload)
        if refusal is not None:
            self._refuse_publish(packet, *refusal)
            return None
        try:
            outcome = conn.policy.handle(conn, topic, packet.payload)
        except HubError as exc:
            self._publish_failed(packet, exc)
            return None
        if outcome is None:
            self._acknowledge(packet, None)
            return None
        if isinstance(outcome, asyncio.Future):
            self._acknowledge(packet, outcome)
            return None
        if self.version == MQTT_5:
            response_topic = packet.properties.get("response_topic")
            if response_topic:
                return self._as_reply(outcome, response_topic, packet.properties.get("correlation_data"))
        return outcome

    async def _as_reply(self, work: Any, response_topic: str, correlation: bytes | None) -> None:
        conn = self.conn
        conn.reply_to = (response_topic, correlation)
        try:
            await work
        finally:
            conn.reply_to = None

    async def _finish_publish(self, work: Any, packet: Publish) -> None:
        try:
            result = await work
        except HubError as exc:
            self._publish_failed(packet, exc)
            return
        except Exception:
            log.exception("MQTT session %s: unexpected error", self.conn.describe())
            self._publish_failed(packet, None)
            return
        self._acknowledge(packet, result if isinstance(result, asyncio.Future) else None)

    def _refuse_publish(self, packet: Publish, code: int, reason: str) -> None:
        """MQTT 5: a QoS 1/2 publish gets the reason code in its PUBACK/PUBREC and the
        session goes on; a QoS 0 one (nothing to answer) ends it. MQTT 3.1.1 has no
        negative acknowledgement: the session ends."""
        if self.version == MQTT_5 and packet.qos and code != 0x95:
            log.info("MQTT session %s: %s", self.conn.client_id, reason)
            self._negative_ack(packet, code, reason)
        else:
            self.conn.close(reason, code)

    def _publish_failed(self, packet: Publish, exc: HubError | None) -> None:
        code = PAYLOAD_FORMAT_INVALID if isinstance(exc, BadRequest) else UNSPECIFIED
        reason = f"{type(exc).__name__}: {exc}" if exc is not None else "internal error"
        self._refuse_publish(packet, code, reason)

    def _negative_ack(self, packet: Publish, code: int, reason: str) -> None:
        props = {"reason_string": reason} if self.problem_info else {}
        ack = PubAck if packet.qos == 1 else PubRec
        # In order: behind any acknowledgement still waiting for its commit.
        self._queue_ack(packet.packet_id, packet.qos, None, ack(packet_id=packet.packet_id, reason_code=code,
                                                                 properties=props))

    def _acknowledge(self, packet: Publish, commit: asyncio.Future | None) -> None:
        if packet.qos:
            self._queue_ack(packet.packet_id, packet.qos, commit, None)
        elif commit is not None:
            self.unsettled += 1
            commit.add_done_callback(self._settled)
            if self.unsettled >= self.server.settings.max_pending_messages:
                self._flow()

    def _queue_ack(self, packet_id: int, qos: int, commit: asyncio.Future | None, negative: Any) -> None:
        if qos == 2:
            if self.qos2 is None:
                self.qos2 = set()
            self.qos2.add(packet_id)
        if commit is None and not self.acks:
            self._send_ack(packet_id, qos, None, negative)
            return
        if self.acks is None:
            self.acks = deque()
        self.acks.append((packet_id, qos, commit, negative))
        if commit is not None:
            commit.add_done_callback(self._committed)
        if self.inflight >= self.server.settings.receive_maximum:
            self._flow()

    def _committed(self, _future: asyncio.Future) -> None:
        acks = self.acks
        while acks:
            packet_id, qos, commit, negative = acks[0]
            if commit is not None and not commit.done():
                break
            acks.popleft()
            self._send_ack(packet_id, qos, commit, negative)
        if self.paused:
            self._flow()

    def _send_ack(self, packet_id: int, qos: int, commit: asyncio.Future | None, negative: Any) -> None:
        self.inflight -= 1
        if commit is not None and (commit.cancelled() or commit.exception() is not None):
            error = "cancelled" if commit.cancelled() else commit.exception()
            log.error("MQTT telemetry of %s could not be stored: %s", self._peer(), error)
            if self.version == MQTT_5 and not self.closing:
                negative = (PubAck if qos == 1 else PubRec)(packet_id=packet_id, reason_code=UNSPECIFIED,
                                                             properties={})
            else:
                self.disconnect(UNSPECIFIED, "not stored")
                return
        if self.closing:
            return
        if negative is not None:
            if qos == 2:
                self.qos2.discard(packet_id)  # a failed QoS 2 flow ends at PUBREC (MQTT-4.3.3)
            self._send_packet(negative)
        else:
            self._write(_ack_bytes(0x40 if qos == 1 else 0x50, packet_id))

    def _settled(self, commit: asyncio.Future) -> None:
        self.unsettled -= 1
        if not commit.cancelled() and commit.exception() is not None:
            log.error("MQTT telemetry (QoS 0) of %s could not be stored: %s", self._peer(), commit.exception())
        if self.paused:
            self._flow()

    def _pubrel(self, packet: PubRel) -> None:
        if self.qos2 is not None and packet.packet_id in self.qos2:
            self.qos2.discard(packet.packet_id)
            self._write(_ack_bytes(0x70, packet.packet_id))
        elif self.version == MQTT_5:
            self._send_packet(PubComp(packet_id=packet.packet_id, reason_code=0x92, properties={}))
        else:
            self._write(_ack_bytes(0x70, packet.packet_id))

    # -- SUBSCRIBE / UNSUBSCRIBE -----------------------------------------------------------

    def _subscribe(self, packet: Subscribe) -> None:
        conn = self.conn
        policy = conn.policy
        codes, refused = [], None
        for sub in packet.subscriptions:
            if policy.may_subscribe(sub.topic_filter):
                qos = min(sub.qos, 1)  # the hub sends QoS 0 or 1
                conn.subscriptions[sub.topic_filter] = qos
                codes.append(qos)
            else:
                codes.append(NOT_AUTHORIZED if self.version == MQTT_5 else 0x80)
                refused = sub.topic_filter
        self._send_packet(SubAck(packet_id=packet.packet_id, reason_codes=codes, properties={}))
        if refused is not None:
            reason = f"subscribe to {refused!r} is not allowed in a {policy.name} session"
            if policy.strict:
                conn.close(reason, NOT_AUTHORIZED)
            else:
                log.info("MQTT %s: %s", policy.name, reason)

    def _unsubscribe(self, packet: Unsubscribe) -> None:
        subscriptions = self.conn.subscriptions
        codes = [0 if subscriptions.pop(f, None) is not None else NO_SUBSCRIPTION_EXISTED for f in packet.topic_filters]
        self._send_packet(UnsubAck(packet_id=packet.packet_id, reason_codes=codes, properties={}))

    # -- outgoing PUBLISH (Link) -------------------------------------------------------------

    async def send(self, conn: Connection, topic: str, payload: bytes, qos: int,
                   properties: dict[str, Any] | None = None) -> None:
        if self.closing:
            return
        packet_id = None
        if qos:
            if self.out_ids is None:
                self.out_ids = {}
            while len(self.out_ids) >= self.client_receive_max:  # the client's Receive Maximum
                if self.out_waiters is None:
                    self.out_waiters = deque()
                waiter = self.server.loop.create_future()
                self.out_waiters.append(waiter)
                await waiter  # resolved by a PUBACK, or when the connection ends
                if self.closing:
                    return
            packet_id = self._free_id()
        data = encode(Publish(topic=topic, payload=payload, qos=qos, retain=False, dup=False, packet_id=packet_id,
                              properties=properties or {}), self.version)
        if self.client_max_packet and len(data) > self.client_max_packet:
            log.info("MQTT session %s: a %d-byte message on %r was dropped (over the client's Maximum "
                     "Packet Size)", conn.client_id, len(data), topic)
            return
        if packet_id is not None:
            self.out_ids[packet_id] = self.server.loop.time()
        self._write(data)

    def _free_id(self) -> int:
        while True:
            self.next_id = self.next_id % 65_535 + 1
            if self.next_id not in self.out_ids:
                return self.next_id

    def _puback(self, packet_id: int) -> None:
        if self.out_ids is not None and self.out_ids.pop(packet_id, None) is not None and self.out_waiters:
            waiter = self.out_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def close(self, conn: Connection, code: int, reason: str) -> None:
        self.disconnect(code, reason)

    # -- ending ------------------------------------------------------------------------------

    def _client_disconnect(self, packet: Disconnect) -> None:
        self._close()

    def disconnect(self, code: int, reason: str | None = None) -> None:
        """End the connection; MQTT 5 clients get a DISCONNECT with ``code`` first."""
        if self.closing:
            return
        if self.conn is not None and not self.conn.closed:
            self.conn.closed = True
            self.conn.refused = True
        if self.version == MQTT_5 and self.conn is not None:
            props = {"reason_string": reason} if reason else {}
            self._send_packet(Disconnect(reason_code=code, properties=props))
        self._close()

    def _malformed(self, exc: MalformedPacket) -> None:
        if self.closing:
            return
        log.info("MQTT: bad input from %s: %s", self._peer(), exc)
        if self.conn is not None:
            if self.version == MQTT_5:
                self._send_packet(Disconnect(reason_code=exc.reason_code, properties={}))
        elif not self.connecting:  # a refused CONNECT: answered in the client's version where it can be
            if isinstance(exc, UnsupportedProtocol):
                if (exc.protocol_level or 0) > MQTT_5:
                    self._send_packet(ConnAck(reason_code=exc.reason_code), MQTT_5)
                else:
                    self._write(_V311_BAD_PROTOCOL)
            elif self.decoder.version == MQTT_5:
                self._send_packet(ConnAck(reason_code=exc.reason_code), MQTT_5)
            elif exc.v311_return_code is not None:
                self._send_packet(ConnAck(reason_code=exc.v311_return_code), 4)
        self._close()

    def timed_out(self, why: str) -> None:
        log.info("MQTT: %s closed: %s", self._peer(), why)
        self.disconnect(KEEP_ALIVE_TIMEOUT if self.conn is not None else UNSPECIFIED, why)

    def shutdown(self) -> None:
        self.disconnect(SERVER_SHUTTING_DOWN, "server shutting down")

    def _close(self) -> None:
        if self.closing:
            return
        self._flush()
        self.closing = True
        if self.conn is not None:
            self.conn.closed = True
        self.transport.close()

    def _abort(self) -> None:
        self.closing = True
        self.transport.abort()

    # -- writing and flow control -----------------------------------------------------------

    def _send_packet(self, packet: Any, version: int | None = None) -> None:
        self._write(encode(packet, version or self.version or 4))

    def _write(self, data: bytes) -> None:
        """Queue bytes for the socket. Everything written in one pass of the event loop
        (a reply and its PUBACK, a run of PUBACKs released by one commit) leaves in one
        send: a system call per packet costs more than the rest of an acknowledgement."""
        if self.closing:
            return
        out = self.out
        if out is None:
            self.out = [data]
            self.server.loop.call_soon(self._flush)
        else:
            out.append(data)

    def _flush(self) -> None:
        out = self.out
        if out is None:
            return
        self.out = None
        transport = self.transport
        if transport.is_closing():
            return
        transport.write(out[0] if len(out) == 1 else b"".join(out))
        if transport.get_write_buffer_size() > self.server.settings.read_buffer_bytes:
            log.info("MQTT: %s does not read what it is sent; closed", self._peer())
            self._abort()

    def _flow(self) -> None:
        """Pause reading the socket while this session has as much in hand as it may."""
        settings = self.server.settings
        busy = (self.inflight >= settings.receive_maximum or self.unsettled >= settings.max_pending_messages
                or (self.queue is not None and (len(self.queue) >= settings.max_pending_messages
                                                or self.queued_bytes >= settings.read_buffer_bytes)))
        if busy is self.paused or self.closing:
            return
        self.paused = busy
        if busy:
            self.transport.pause_reading()
        else:
            self.last_read = self.server.loop.time()  # silence while paused was ours
            self.transport.resume_reading()

    def _peer(self) -> str:
        if self.conn is not None:
            return self.conn.describe()
        transport = self.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        return f"{peer[0]}:{peer[1]}" if peer else "?"
