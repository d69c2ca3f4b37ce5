"""The in-process claim store: JSON values with a time to live in a dict.

Right for a single hub process; a hub run as several processes needs a shared store
(a Redis plugin implementing the same four calls). Expired entries are dropped when
read and swept at most once a minute, so the dict stays as small as the live set.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from gridlinks.core import hookimpl

SWEEP_EVERY_S = 60.0


class MemoryClaimStore:
    name = "memory"

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._items: dict[str, tuple[float, Any]] = {}
        self._next_sweep = clock() + SWEEP_EVERY_S

    def _live(self, key: str) -> Any:
        now = self._clock()
        if now >= self._next_sweep:
            self._items = {k: v for k, v in self._items.items() if v[0] > now}
            self._next_sweep = now + SWEEP_EVERY_S
        entry = self._items.get(key)
        if entry is None:
            return None
        if entry[0] <= now:
            del self._items[key]
            return None
        return entry[1]

    async def put(self, key: str, value: dict[str, Any], ttl_s: float) -> None:
        # A copy, as Redis would hand back: callers cannot change what is stored.
        self._items[key] = (self._clock() + ttl_s, copy.deepcopy(value))

    async def get(self, key: str) -> dict[str, Any] | None:
        value = self._live(key)
        return copy.deepcopy(value) if value is not None else None

    async def delete(self, key: str) -> None:
        self._items.pop(key, None)

    async def incr(self, key: str, ttl_s: float) -> int:
        count = self._live(key)
        if count is None:
            self._items[key] = (self._clock() + ttl_s, 1)
            return 1
        expires, _ = self._items[key]
        self._items[key] = (expires, count + 1)
        return count + 1


@hookimpl
def register_claim_stores(hub, register):
    register(MemoryClaimStore())
