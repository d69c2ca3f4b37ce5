"""The in-memory claim store and the attempt limiter on top of it, driven by a clock
the test moves (the store takes the clock as a parameter for exactly this)."""

import pytest

from gridlinks.core import claim_limits
from gridlinks.core.claim_limits import AttemptLimiter
from gridlinks.core.errors import ConfigError, TooManyAttempts
from gridlinks.plugins.claim_store_memory import SWEEP_EVERY_S, MemoryClaimStore
from tests.support import hub_config, start_hub, stop_hub


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


async def test_values_expire_and_are_copies():
    clock = Clock()
    store = MemoryClaimStore(clock)
    value = {"secret": "s", "nested": {"a": 1}}
    await store.put("k", value, ttl_s=10)
    value["nested"]["a"] = 2
    got = await store.get("k")
    assert got == {"secret": "s", "nested": {"a": 1}}
    got["secret"] = "changed"
    assert (await store.get("k"))["secret"] == "s"
    clock.now += 10
    assert await store.get("k") is None
    await store.put("k", {"v": 1}, ttl_s=5)
    await store.delete("k")
    await store.delete("k")
    assert await store.get("k") is None


async def test_counters_keep_their_first_expiry():
    clock = Clock()
    store = MemoryClaimStore(clock)
    assert await store.incr("c", ttl_s=10) == 1
    clock.now += 6
    assert await store.incr("c", ttl_s=10) == 2
    clock.now += 5
    assert await store.incr("c", ttl_s=10) == 1


async def test_expired_entries_are_swept():
    clock = Clock()
    store = MemoryClaimStore(clock)
    for i in range(100):
        await store.put(f"k{i}", {"i": i}, ttl_s=1)
    await store.put("keep", {}, ttl_s=SWEEP_EVERY_S * 3)
    clock.now += SWEEP_EVERY_S + 1
    assert await store.get("keep") == {}
    assert len(store._items) == 1


async def test_limiter_locks_and_releases():
    store = MemoryClaimStore()
    limiter = AttemptLimiter(lambda: store, max_failures=2, lockout_s=0.2)
    who, dev = claim_limits.caller("u1"), claim_limits.device("d1")
    await limiter.failed(who, dev)
    await limiter.check(who, dev)
    await limiter.succeeded(who)
    await limiter.failed(who, dev)
    await limiter.check(who)  # the success reset the caller's count: one failure since
    with pytest.raises(TooManyAttempts, match="for this device") as info:
        await limiter.check(dev)
    assert 0 < info.value.retry_after_s <= 0.2


async def test_limiter_can_be_switched_off():
    store = MemoryClaimStore()
    limiter = AttemptLimiter(lambda: store, max_failures=0, lockout_s=300)
    who = claim_limits.caller("u")
    for _ in range(10):
        await limiter.failed(who)
    await limiter.check(who)
    assert store._items == {}


async def test_unknown_claim_store_fails_startup(tmp_path):
    with pytest.raises(ConfigError, match="claim.store is 'redis'.*memory"):
        running = await start_hub(hub_config(tmp_path / "data", claim={"store": "redis"}))
        await stop_hub(running)
