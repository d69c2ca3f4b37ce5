"""The cluster bus against the real Redis: each event reaches every other node exactly
once, is never sent back (no ping-pong between nodes), and junk on the channel is ignored."""

from __future__ import annotations

import asyncio
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridlinks.core.bus import EventBus
from gridlinks.core.events import AttributesUpdated, DeviceProvisioned, Event, HubStarted, ProvisionFailed
from gridlinks.plugins.cluster_redis.bus import RedisClusterBus, decode, encode
from tests.support import REDIS_URL, redis_or_skip


async def _nodes(count: int) -> list[tuple[RedisClusterBus, list[Event]]]:
    await redis_or_skip()
    nodes = []
    channel = f"gridlinks:events:test-{uuid.uuid4().hex}"  # one hub's channel: no other test's events
    for _ in range(count):
        bus, seen = EventBus(), []
        bus.listen(Event, seen.append)
        cluster = RedisClusterBus(bus, REDIS_URL, channel=channel)
        await cluster.start()
        nodes.append((cluster, seen))
    return nodes


async def test_every_other_node_gets_each_event_once_and_never_sends_it_back():
    nodes = await _nodes(3)
    try:
        (a, seen_a), (_, seen_b), (_, seen_c) = nodes
        for i in range(5):
            await a.bus.fire(AttributesUpdated(device_id="d1", scope="SHARED_SCOPE", values={"n": i}, source="test"))
        for _ in range(100):
            if len(seen_b) >= 5 and len(seen_c) >= 5:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # time for any echo to come back
        for seen in (seen_b, seen_c):
            assert [e.values["n"] for e in seen] == [0, 1, 2, 3, 4]  # in order, once each
            assert all(e.audited for e in seen)  # the sending node wrote the audit rows
        assert len(seen_a) == 5  # its own five, and no echo from B or C
        assert all(e.remote for e in seen_b) and not any(e.remote for e in seen_a)

        # Every other event crosses too (the live feed of every node shows it), but not
        # what is about one node alone.
        await a.bus.fire(HubStarted())
        await a.bus.fire(ProvisionFailed(outcome="FAILURE", reason="r", transport="HTTP", tenant_id="t",
                                         device_name="refused", profile=None))
        for _ in range(100):
            if len(seen_b) >= 6:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        assert [type(e) for e in seen_b[5:]] == [ProvisionFailed] and seen_b[5].device_name == "refused"
        assert seen_b[5].audited and seen_b[5].remote
    finally:
        for cluster, _ in nodes:
            await cluster.stop()


def test_round_trip_keeps_the_fields():
    event = DeviceProvisioned(outcome="SUCCESS", tenant_id="t", device_id="d", device_name="n", transport="http",
                              profile="p", credentials_type="ACCESS_TOKEN")
    node, back = decode(encode("node-1", event))
    assert node == "node-1" and type(back) is DeviceProvisioned and back.data() == event.data()


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200),
                     st.dictionaries(st.text(max_size=8), st.text(max_size=8)).map(str)))
def test_junk_on_the_channel_is_ignored(raw):
    assert decode(raw) is None or isinstance(decode(raw)[1], Event)
