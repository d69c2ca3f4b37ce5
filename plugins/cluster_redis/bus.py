"""Publishing local events to Redis and firing the other nodes' events locally."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import fields
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from tortoise.exceptions import IntegrityError

from gridlinks.core.bus import EventBus
from gridlinks.core.errors import StartupError
from gridlinks.core.events import (
    AttributesDeleted,
    AttributesUpdated,
    ClusterResynced,
    CredentialsIssued,
    CredentialsRevoked,
    DeviceCreated,
    DeviceDeleted,
    DeviceProvisioned,
    Event,
    HubStarted,
    Outcome,
    ProfileSaved,
)
from gridlinks.core.storage.database import Storage
from gridlinks.core.storage.models import HubSecret
from gridlinks.core.storage.writes import Insert

log = logging.getLogger(__name__)

CHANNEL = "gridlinks:events"  # + ":<hub id>"
HUB_ID = "cluster_hub_id"
RECONNECT_S = 1.0

# What another node must act on: pushes to its devices, ending their sessions, its TLS trust
# store and profile cache. Every other event crosses too, for the dashboard's live feed (and
# any listener that reports the whole hub); each node fires it with ``remote=True`` and
# ``audited=True``: audit rows are written once, by the node the event happened on.
FORWARDED: tuple[type[Event], ...] = (AttributesUpdated, AttributesDeleted, CredentialsRevoked, DeviceDeleted,
                                      CredentialsIssued, DeviceCreated, DeviceProvisioned, ProfileSaved)
LOCAL_ONLY: frozenset[type[Event]] = frozenset({HubStarted, ClusterResynced})  # about this node alone
_NOT_SENT = frozenset({"audited", "remote"})


def event_classes() -> dict[str, type[Event]]:
    """Every event class loaded now (the core's and the enabled plugins'), by name."""
    found: dict[str, type[Event]] = {}
    pending = [Event]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls not in (Event, Outcome) and cls not in LOCAL_ONLY:
            found.setdefault(cls.name, cls)
    return found


def encode(node: str, event: Event) -> str:
    data = {f.name: getattr(event, f.name) for f in fields(event) if f.name not in _NOT_SENT}
    return json.dumps({"node": node, "type": event.name, "data": data}, separators=(",", ":"), default=str)


def decode(raw: str | bytes, classes: dict[str, type[Event]] | None = None) -> tuple[str, Event] | None:
    """(sending node, event), or None for a message this node cannot use (logged)."""
    try:
        message = json.loads(raw)
        cls = (classes if classes is not None else event_classes()).get(message["type"])
        if cls is None:  # an event of a plugin this node does not run: nothing here listens for it
            log.debug("cluster: ignored an event of unknown type %r", message["type"])
            return None
        names = {f.name for f in fields(cls)} - _NOT_SENT
        data = {k: v for k, v in message["data"].items() if k in names}
        # audited: the sending node wrote its audit row; this node must not write another.
        return str(message["node"]), cls(**data, audited=True, remote=True)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("cluster: ignored an event this node cannot read (%s: %s)", type(exc).__name__, exc)
        return None


async def hub_id(storage: Storage) -> str:
    """This hub's id, generated once into the database (``hub_secret``) by whichever node
    starts first: every node of the hub reads the same one."""
    row = await HubSecret.get_or_none(name=HUB_ID)
    if row is None:
        try:
            await storage.write([Insert(HubSecret, {"name": HUB_ID, "value": uuid.uuid4().hex})])
        except IntegrityError:
            pass  # another node stored one first
        row = await HubSecret.get(name=HUB_ID)
    return row.value


class RedisClusterBus:
    name = "cluster_redis"

    def __init__(self, bus: EventBus, url: str, storage: Storage | None = None, channel: str | None = None):
        self.bus = bus
        self.url = url
        self.storage = storage
        # Set at start: CHANNEL and the hub's id, so two hubs sharing one Redis never hear each other.
        self.channel = channel or CHANNEL
        self.node = uuid.uuid4().hex
        self._redis: aioredis.Redis | None = None
        self._task: asyncio.Task | None = None
        self._unlisten: list = []
        self._classes: dict[str, type[Event]] = {}
        self.connected = asyncio.Event()
        self._lost = False   # said once per outage, and once when Redis is back
        self._missed = False  # the subscription broke: other nodes' events may have been missed

    async def start(self) -> None:
        if self.storage is not None:
            self.channel = f"{CHANNEL}:{await hub_id(self.storage)}"
        self._redis = aioredis.from_url(self.url, socket_connect_timeout=5, health_check_interval=30)
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            await self._redis.aclose()
            self._redis = None
            raise StartupError(f"cluster: Redis at {self.url} is not reachable ({exc}); start it or fix redis_url") \
                from None
        # An observer: publishing never holds up the device or admin whose change it reports.
        self._classes = event_classes()  # every plugin is loaded by now
        self._unlisten = [self.bus.listen(Event, self._publish, blocking=False)]
        self._task = asyncio.get_running_loop().create_task(self._receive(), name="gridlinks-cluster-bus")
        await asyncio.wait_for(self.connected.wait(), 10)
        log.info("cluster: node %s joined the event channel %s", self.node[:8], self.channel)

    async def stop(self) -> None:
        for unlisten in self._unlisten:
            unlisten()
        self._unlisten = []
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def _publish(self, event: Event) -> None:
        if event.remote or type(event) in LOCAL_ONLY or self._redis is None:
            return  # came from another node (not ours to send on), or about this node alone
        try:
            await self._redis.publish(self.channel, encode(self.node, event))
        except (RedisError, OSError) as exc:
            # The change itself is committed; other nodes miss this notification.
            self._redis_lost(exc)
            log.debug("cluster: could not publish %s (%s); other nodes miss it", event.name, exc)
        else:
            self._redis_back()

    def _redis_lost(self, exc: BaseException) -> None:
        self.connected.clear()
        if not self._lost:
            self._lost = True
            log.warning("cluster: lost Redis (%s); this node keeps serving its devices, but until it "
                        "reconnects it neither hears nor tells other nodes' events (retrying every %.0f s)",
                        exc, RECONNECT_S)

    def _redis_back(self) -> None:
        if self._lost:
            self._lost = False
            log.warning("cluster: Redis is back; cluster events flow again")

    async def _receive(self) -> None:
        """Subscribe, fire what other nodes send, and resubscribe after a lost connection."""
        while True:
            assert self._redis is not None
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.connected.set()
                self._redis_back()
                if self._missed:  # what this node derived from events it may have missed is rebuilt
                    self._missed = False
                    await self.bus.fire(ClusterResynced())
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await self._fire_remote(message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self._missed = True
                self._redis_lost(exc)
                await asyncio.sleep(RECONNECT_S)
            finally:
                try:
                    await pubsub.aclose()
                except (RedisError, OSError):
                    pass

    async def _fire_remote(self, raw: Any) -> None:
        decoded = decode(raw, self._classes)
        if decoded is None:
            return
        node, event = decoded
        if node == self.node:
            return
        try:
            await self.bus.fire(event)
        except Exception as exc:  # a listener's failure is the bus's to log; never stop receiving
            log.warning("cluster: firing %s failed: %s", event.name, exc)
