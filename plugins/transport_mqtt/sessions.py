"""What the hub knows about one MQTT connection, with no broker-engine types in it.

A :class:`Connection` is created by the engine when a client connects; the gate fills
in who it is (its :class:`Policy`) when the CONNECT is authenticated. Everything the
hub does with a session (answer it, push to it, end it) goes through the connection,
which asks the engine; so another broker engine only has to provide :class:`Link`.

Policies decide which topics a session may use:
- :class:`DevicePolicy`: the device API (``v1/devices/me/...``, see ``device_topics``);
- :class:`RestrictedPolicy`: a :class:`~gridlinks.core.types.RestrictedSession`, i.e. a
  few named topics and one handler: the ``provision`` login, or whatever a credential
  type grants (dynamic registration's password request). Anything outside its topics
  closes the session.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING, Any, Protocol

from gridlinks.core.types import RestrictedSession

if TYPE_CHECKING:
    from gridlinks.core.models import Device

log = logging.getLogger(__name__)


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT 3.1.1 wildcard matching (``+`` one level, ``#`` the rest)."""
    f_levels, t_levels = topic_filter.split("/"), topic.split("/")
    for i, level in enumerate(f_levels):
        if level == "#":
            return True
        if i >= len(t_levels) or (level != "+" and level != t_levels[i]):
            return False
    return len(f_levels) == len(t_levels)


class Link(Protocol):
    """What a broker engine does for the hub on one connection."""

    async def send(self, conn: "Connection", topic: str, payload: bytes, qos: int) -> None: ...

    def close(self, conn: "Connection") -> None: ...


class Policy(Protocol):
    name: str
    device: "Device | None"
    # True: a refused subscription ends the session; False: it only gets a failure SUBACK.
    strict: bool

    def may_subscribe(self, topic_filter: str) -> bool: ...

    def may_publish(self, topic: str) -> bool: ...

    async def handle(self, conn: "Connection", topic: str, payload: bytes) -> None: ...


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

    async def handle(self, conn: "Connection", topic: str, payload: bytes) -> None:
        await self.grant.on_publish(conn, topic, payload)


class Connection:
    """One client connection. Implements :class:`~gridlinks.core.types.SessionChannel`."""

    def __init__(self, link: Link, tls: bool, peer: tuple[str, int], ssl_object: Any = None):
        # Unguessable, so no client can name another's session (see engine.py).
        self.id = secrets.token_hex(8)
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
        # disconnects only sets ``closed``: what it published before, and was
        # acknowledged, is still handled.
        self.refused = False
        self.pending = 0
        self.max_pending = 100
        self.lock = asyncio.Lock()

    @property
    def device(self) -> "Device | None":
        return self.policy.device if self.policy is not None else None

    def certificates(self) -> tuple[bytes | None, tuple[bytes, ...]]:
        """The client certificate (DER) and, where Python can tell (3.13+), the chain the
        TLS layer verified, leaf first. Before 3.13 only the leaf is available."""
        if self.ssl_object is None:
            return None, ()
        leaf = self.ssl_object.getpeercert(binary_form=True)
        if not leaf:
            return None, ()
        verified = getattr(self.ssl_object, "get_verified_chain", None)
        chain = tuple(verified()) if verified is not None else ()
        return leaf, chain or (leaf,)

    def subscription_qos(self, topic: str) -> int | None:
        qos = [q for f, q in self.subscriptions.items() if topic_matches(f, topic)]
        return max(qos) if qos else None

    async def send(self, topic: str, payload: bytes, qos: int | None = None) -> None:
        """Publish to this session only; QoS of its matching subscription, 1 if none."""
        if self.closed:
            return
        if qos is None:
            qos = self.subscription_qos(topic)
            qos = 1 if qos is None else qos
        await self.link.send(self, topic, payload, qos)

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.refused = True
        log.info("MQTT session %s (%s) closed: %s", self.client_id, self.policy.name if self.policy else "-", reason)
        self.link.close(self)

    def describe(self) -> str:
        return f"{self.peer[0]}:{self.peer[1]} client id {self.client_id!r}"
