"""The Redis claim store: pending claim info and failed-attempt counters shared by every
hub node, and kept across restarts of all of them (the memory store loses both).

Each of the four calls is one Redis command or one MULTI/EXEC, so two nodes racing on
one key see one consistent outcome: a value's time to live is a Redis TTL (``PX``), and a
counter is created with its TTL and incremented in one transaction (``SET NX PX`` +
``INCR``), so a counter can never be left without an expiry.

Enable it with ``redis_url`` (``GRIDLINKS_REDIS_URL``), ``claim_store_redis`` under
``plugins:`` and ``claim.store: redis``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gridlinks.core import hookimpl
from gridlinks.core.errors import ServiceUnavailable, StartupError

log = logging.getLogger(__name__)

KEY_PREFIX = "gridlinks:claim:"


def _ms(ttl_s: float) -> int:
    return max(1, int(ttl_s * 1000))


class RedisClaimStore:
    name = "redis"

    def __init__(self, url: str, prefix: str = KEY_PREFIX):
        self.url = url
        self.prefix = prefix
        self._redis: aioredis.Redis | None = None

    async def open(self) -> None:
        self._redis = aioredis.from_url(self.url, socket_connect_timeout=5, socket_timeout=5,
                                        health_check_interval=30)
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            await self.close()
            raise StartupError(f"claim store: Redis at {_safe(self.url)} is not reachable ({exc}); "
                               "start it or fix redis_url / GRIDLINKS_REDIS_URL") from None

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            raise ServiceUnavailable("claim store is not open")
        return self._redis

    async def put(self, key: str, value: dict[str, Any], ttl_s: float) -> None:
        await self._run(self.redis.set(self.prefix + key, json.dumps(value), px=_ms(ttl_s)))

    async def get(self, key: str) -> dict[str, Any] | None:
        raw = await self._run(self.redis.get(self.prefix + key))
        return json.loads(raw) if raw is not None else None

    async def delete(self, key: str) -> None:
        await self._run(self.redis.delete(self.prefix + key))

    async def incr(self, key: str, ttl_s: float) -> int:
        full = self.prefix + key
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(full, 0, nx=True, px=_ms(ttl_s))
            pipe.incr(full)
            _, count = await self._run(pipe.execute())
        return int(count)

    @staticmethod
    async def _run(awaitable):
        """Redis down is the hub's "try again later", not an internal error."""
        try:
            return await awaitable
        except (RedisError, OSError) as exc:
            log.warning("claim store: Redis error: %s", exc)
            raise ServiceUnavailable("claim store (Redis) is not reachable; try again later") from None


def _safe(url: str) -> str:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    return url.replace(f":{parsed.password}@", ":***@") if parsed.password else url


@hookimpl
def register_claim_stores(hub, register):
    url = hub.settings.redis_url
    if not url:
        raise StartupError("plugin claim_store_redis needs redis_url (GRIDLINKS_REDIS_URL), e.g. redis://127.0.0.1:6379/0")
    register(RedisClaimStore(url))
