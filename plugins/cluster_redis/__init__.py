"""Cluster events over Redis: the facts other hub nodes must act on reach every node's bus.

A shared attribute set through node A must reach the MQTT device connected to node B; a
device whose credentials are reset on A must lose its session on B; a profile saved on A
must not be served stale by B. Each node publishes those events (``FORWARDED``) to one
Redis pub/sub channel and fires what the other nodes publish on its own bus.

Why pub/sub and not streams: these events are live notifications about state that is
already durable in PostgreSQL (attribute values, credentials, profiles). Pub/sub delivers
each message once to every connected node, in order, with no per-node bookkeeping; what
it cannot do is replay what a node missed while it was disconnected from Redis. A node
logs the loss, keeps serving its own devices and resubscribes; the gap is documented in
docs/scale-out.md (a device on that node misses pushes sent meanwhile; it reads current
values on its next attribute request).

Enable with ``redis_url`` and ``cluster_redis`` under ``plugins:``.
"""

from __future__ import annotations

from gridlinks.core import hookimpl
from gridlinks.core.errors import StartupError
from gridlinks.plugins.cluster_redis.bus import RedisClusterBus


@hookimpl
def register_transports(hub, register):
    # A transport in the hub's sense: something started after storage and stopped before it.
    url = hub.settings.redis_url
    if not url:
        raise StartupError("plugin cluster_redis needs redis_url (GRIDLINKS_REDIS_URL), e.g. redis://127.0.0.1:6379/0")
    register(RedisClusterBus(hub.bus, url, hub.storage))
