"""What the hub knows about one MQTT connection, with no wire types in it.

A :class:`Connection` is created by the server (``protocol.py``) when a client sends
its CONNECT; the gate fills in who it is (its :class:`Policy`) while authenticating.
Everything the hub does with a session (answer it, push to it, end it) goes through
the connection, which asks its :class:`Link` (the connection's protocol object), so
the hub's logic never sees packets, versions or sockets.

Policies decide which topics a session may use:
- :class:`DevicePolicy` (``device_topics``): the device API (``v1/devices/me/...``);
- :class:`RestrictedPolicy`: a :class:`~gridlinks.core.types.RestrictedSession`, i.e. a
  few named topics and one handler: the ``provision`` login, or whatever a credential
  type grants (dynamic registration's password request). Anything outside its topics
  closes the session.

A policy's ``handle`` is a plain function so the hot path (telemetry) needs no task:
it returns ``None`` (done), a future (the unit is committed when it resolves) or a
coroutine (the server awaits it, in order, before the next publish of the session).
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING, Any, Protocol

from gridlinks.core.types import RestrictedSession

if TYPE_CHECKING:
    from gridlinks.core.storage.models import Device

log = logging.getLogger(__name__)

# v5 reason codes the hub's logic uses when it ends or refuses something (SPEC.md 4).
NORMAL = 0x00
UNSPECIFIED = 0x80
NOT_AUTHORIZED = 0x87
PAYLOAD_FORMAT_INVALID = 0x99
ADMINISTRATIVE_ACTION = 0x98
PACKET_TOO_LARGE = 0x95

_ids = itertools.count(1)


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT wildcard matching (``+`` one level, ``#`` the rest)."""
    if "+" not in topic_filter and "#" not in topic_filter:
        return topic_filter == topic
    f_levels, t_levels = topic_filter.split("/"), topic.split("/")
    for i, level in enumerate(f_levels):
        if level == "#":
            return True
        if i >= len(t_levels) or (level != "+" and level != t_levels[i]):
            return False
    return len(f_levels) == len(t_levels)


class Link(Protocol):
    """What the server does for the hub on one connection."""

    async def send(self, conn: Connection, topic: str, payload: bytes, qos: int,
                   properties: dict[str, Any] | None = None) -> None: ...

    def close(self, conn: Connection, code: int, reason: str) -> None: ...


class Policy(Protocol):
    name: str
    device: Device | None
    # True: a refused subscription ends the session; False: it only gets a failure SUBACK.
    strict: bool

    def may_subscribe(self, topic_filter: str) -> bool: ...

    def may_publish(self, topic: str) -> bool: ...

    def handle(self, conn: Connection, topic: str, payload: bytes) -> Any: ...


class RestrictedPolicy:
    strict = True

    def __init__(self, grant: RestrictedSession):
        self.grant = grant
        self.name = grant.name
        self.device = grant.device

    def may_subscribe(self, topic_filter: str) -> bool:
        return topic_filter in self.grant.subscribe

    def may_publish(self, topic: str) -> bool:
        return topic in self.grant.publish

    def handle(self, conn: Connection, topic: str, payload: bytes) -> Any:
        return self.grant.on_publish(conn, topic, payload)


class Connection:
    """One client session. Implements :class:`~gridlinks.core.types.SessionChannel`."""

    __slots__ = ("id", "link", "tls", "peer", "ssl_object", "client_id", "username", "password", "policy",
                 "subscriptions", "closed", "refused", "max_pending", "reply_to", "__weakref__")

    def __init__(self, link: Link, tls: bool, peer: tuple[str, int], ssl_object: Any = None):
        self.id = next(_ids)
        self.link = link
        self.tls = tls
        self.peer = peer
        self.ssl_object = ssl_object
        self.client_id: str | None = None
        self.username: str | None = None
        self.password: str | None = None
        self.policy: Policy | None = None
        self.subscriptions: dict[str, int] = {}
        self.closed = False
        # Set when the hub ended the session for a reason (a topic it may not use, bad
        # input): publishes still queued behind it are dropped. A client that simply
        # disconnects only sets ``closed``: what it published before is still handled.
        self.refused = False
        self.max_pending = 100
        # MQTT 5 request/response: (response topic, correlation data) of the publish
        # being handled; a reply sent meanwhile goes there instead of the fixed topic.
        self.reply_to: tuple[str, bytes | None] | None = None

    @property
    def device(self) -> Device | None:
        return self.policy.device if self.policy is not None else None

    def certificates(self) -> tuple[bytes | None, tuple[bytes, ...]]:
        """The client certificate (DER) and the chain OpenSSL verified, leaf first (up to
        the trust anchor; see ``tls.py``)."""
        if self.ssl_object is None:
            return None, ()
        leaf = self.ssl_object.getpeercert(binary_form=True)
        if not leaf:
            return None, ()
        verified = getattr(self.ssl_object, "get_verified_chain", None)
        chain = tuple(verified()) if verified is not None else ()
        return leaf, chain or (leaf,)

    def subscription_qos(self, topic: str) -> int | None:
        best = None
        for topic_filter, qos in self.subscriptions.items():
            if topic_matches(topic_filter, topic) and (best is None or qos > best):
                best = qos
        return best

    async def send(self, topic: str, payload: bytes, qos: int | None = None) -> None:
        """Publish to this session only. ``qos`` None means a reply to the publish being
        handled: it goes to that publish's MQTT 5 response topic (with its correlation
        data) if it named one, at the QoS of the matching subscription, 1 if none."""
        if self.closed:
            return
        properties = None
        if qos is None:
            if self.reply_to is not None:
                topic, correlation = self.reply_to
                properties = {"correlation_data": correlation} if correlation is not None else None
            qos = self.subscription_qos(topic)
            qos = 1 if qos is None else qos
        await self.link.send(self, topic, payload, qos, properties)

    def close(self, reason: str, code: int = UNSPECIFIED) -> None:
        """End the session; ``reason`` goes to the log (and, in MQTT 5, to the device as the
        DISCONNECT reason string), ``code`` is the MQTT 5 DISCONNECT reason code."""
        if self.closed:
            return
        self.closed = True
        self.refused = True
        log.info("MQTT session %s (%s) closed: %s", self.client_id, self.policy.name if self.policy else "-", reason)
        self.link.close(self, code, reason)

    def describe(self) -> str:
        return f"{self.peer[0]}:{self.peer[1]} client id {self.client_id!r}"
