"""The Redis claim store against the real Redis on 127.0.0.1:6379 (skipped, with the
reason, where there is none): the memory store's semantics, shared by two "nodes", and
claim info that survives a restart of the hub."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from gridlinks.core.errors import ServiceUnavailable, StartupError
from gridlinks.plugins.claim_store_redis import RedisClaimStore
from tests.claim_support import claim, customer_user, new_device
from tests.support import REDIS_URL, free_port, hub_config, start_hub, stop_hub

PLUGINS = ["access_token", "provision_allow_create", "provision_disabled", "http", "admin_api", "claim_api",
           "customer_api", "claim_store_redis", "claim_device_key", "claim_server_key"]


async def _store(prefix: str) -> RedisClaimStore:
    store = RedisClaimStore(REDIS_URL, prefix=prefix)
    try:
        await store.open()
    except StartupError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    return store


@pytest.fixture
async def two_nodes():
    prefix = f"test:{uuid.uuid4().hex}:"
    a, b = await _store(prefix), await _store(prefix)
    try:
        yield a, b
    finally:
        keys = [k async for k in a.redis.scan_iter(match=prefix + "*")]
        if keys:
            await a.redis.delete(*keys)
        await a.close()
        await b.close()


async def test_values_expire_and_are_seen_by_every_node(two_nodes):
    a, b = two_nodes
    await a.put("k", {"secret": "s", "nested": {"a": 1}}, ttl_s=0.3)
    assert await b.get("k") == {"secret": "s", "nested": {"a": 1}}
    ttl_ms = await b.redis.pttl(b.prefix + "k")
    assert 0 < ttl_ms <= 300
    await asyncio.sleep(0.5)
    assert await b.get("k") is None
    await a.put("k", {"v": 1}, ttl_s=10)
    await b.delete("k")
    await b.delete("k")
    assert await a.get("k") is None


async def test_counters_race_to_distinct_counts_and_keep_their_first_expiry(two_nodes):
    a, b = two_nodes
    counts = await asyncio.gather(*((a if i % 2 else b).incr("c", ttl_s=5) for i in range(40)))
    assert sorted(counts) == list(range(1, 41))
    first_ttl = await a.redis.pttl(a.prefix + "c")
    assert 0 < first_ttl <= 5000
    await asyncio.sleep(0.2)
    await b.incr("c", ttl_s=60)  # a later increment does not extend the window
    assert await a.redis.pttl(a.prefix + "c") <= first_ttl


async def test_redis_going_away_is_service_unavailable():
    store = RedisClaimStore(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(StartupError, match="not reachable"):
        await store.open()
    with pytest.raises(ServiceUnavailable):
        await store.get("k")


async def test_plugin_without_redis_url_refuses_to_start(tmp_path):
    with pytest.raises(StartupError, match="redis_url"):
        running = await start_hub(hub_config(tmp_path / "data", plugins=PLUGINS, claim={"store": "redis"}))
        await stop_hub(running)


async def test_claim_info_survives_a_restart_of_the_hub(tmp_path):
    await _store("probe:")  # skips when Redis is absent
    config = dict(plugins=PLUGINS, claim={"store": "redis"}, redis_url=REDIS_URL)
    name = f"redis-claim-{uuid.uuid4().hex[:8]}"
    running = await start_hub(hub_config(tmp_path / "data", **config))
    try:
        _, token = await new_device(running, name)
        status, _ = await running.post(f"/api/v1/{token}/claim", json={"secretKey": "s3cret", "durationMs": 60000})
        assert status == 200
    finally:
        await stop_hub(running)
    running = await start_hub(hub_config(tmp_path / "data", **config))
    try:
        _, user = await customer_user(running, "Redis customer", f"{name}@customer.test")
        status, body = await claim(running, user, name, "s3cret")
        assert status == 200 and body["response"] == "SUCCESS", body
        redis = running.hub.claiming.store.redis  # the claim consumed the device's claim info
        assert [k async for k in redis.scan_iter(match=f"*{body['device']['id']['id']}*")] == []
    finally:
        await stop_hub(running)
