"""The in-memory claim store and the attempt limiter on top of it, driven by a clock
the test moves (the store takes the clock as a parameter for exactly this)."""

import pytest

from gridlinks.core.errors import ConfigError, TooManyAttempts
from gridlinks.core.services import claim_limits
from gridlinks.core.services.claim_limits import AttemptLimiter
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


async def test_limiter_locks_the_caller_and_releases():
    store = MemoryClaimStore()
    limiter = AttemptLimiter(lambda: store, max_failures=2, lockout_s=0.2)
    who, here = claim_limits.caller("u1"), claim_limits.caller_on_device("u1", "d1")
    await limiter.failed(await limiter.begin(who, here))
    await limiter.succeeded(who)
    await limiter.failed(await limiter.begin(who, here))
    await limiter.check(who)  # the success reset the caller's count: one failure since
    # ... but not the count on that device, which a success elsewhere must not reset.
    with pytest.raises(TooManyAttempts, match="from this user for this device") as info:
        await limiter.check(here)
    assert 0 < info.value.retry_after_s <= 0.2
    other = claim_limits.caller("u2")
    await limiter.check(other, claim_limits.caller_on_device("u2", "d1"))


async def test_limiter_counts_before_the_comparison():
    """Attempts that all passed ``check`` at once: the one past the threshold is refused
    (and locks), so a burst cannot get more comparisons than the threshold."""
    store = MemoryClaimStore()
    limiter = AttemptLimiter(lambda: store, max_failures=3, lockout_s=30)
    who = claim_limits.caller("u")
    attempts = [await limiter.begin(who) for _ in range(3)]
    with pytest.raises(TooManyAttempts, match="from this user"):
        await limiter.begin(who)
    with pytest.raises(TooManyAttempts):
        await limiter.check(who)
    assert len(attempts) == 3


async def test_device_failures_only_back_off():
    store = MemoryClaimStore()
    limiter = AttemptLimiter(lambda: store, max_failures=2, lockout_s=30, backoff_base_s=0.5, backoff_max_s=3.0)
    target = claim_limits.device("d1")
    delays = [await limiter.backoff(target) for _ in range(6)]
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    await limiter.check(target)  # never a lock, however many failures
    await limiter.succeeded(target)
    assert await limiter.backoff(target) == 0.5
    assert claim_limits.backoff_s(0, 1, 2) == 0 and claim_limits.backoff_s(10**6, 0.1, 2.5) == 2.5


async def test_limiter_can_be_switched_off():
    store = MemoryClaimStore()
    limiter = AttemptLimiter(lambda: store, max_failures=0, lockout_s=300)
    who = claim_limits.caller("u")
    for _ in range(10):
        await limiter.failed(await limiter.begin(who))
        await limiter.failed_now(who)
        assert await limiter.backoff(claim_limits.device("d")) == 0
    await limiter.check(who)
    assert store._items == {}


async def test_unknown_claim_store_fails_startup(tmp_path):
    with pytest.raises(ConfigError, match="claim.store is 'redis'.*memory"):
        running = await start_hub(hub_config(tmp_path / "data", claim={"store": "redis"}))
        await stop_hub(running)
