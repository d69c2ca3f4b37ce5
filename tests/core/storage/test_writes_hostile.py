"""The write path survives every value it is handed (issue 11, finding 1).

Before: ``write_batch_sync`` handled only IntegrityError, so one OverflowError (an
integer past 64 bits) or UnicodeEncodeError (a lone surrogate) left its BEGIN IMMEDIATE
open and every later batch failed with "cannot start a transaction within a
transaction" while /api/health said UP. Each test here failed that way.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tortoise.exceptions import IntegrityError

from gridlinks.core.errors import BadRequest
from gridlinks.core.storage.database import Storage
from gridlinks.core.storage.models import Tenant, TimeseriesValue
from gridlinks.core.storage.writes import Insert, SqliteGroupWriter

HOSTILE_TEXT = ["\ud800", "a\udfffb", "\x00", "x" * 300, "é" * 255]
HOSTILE_INTS = [2**63, -(2**63) - 1, 2**70, 10**30]


async def _tenant_writes_still_commit(storage: Storage, name: str) -> None:
    await storage.write([Insert(Tenant, {"name": name})])
    assert await Tenant.filter(name=name).exists()
    assert storage.health() == {"ok": True}
    if storage.dialect == "sqlite":
        conn = storage.connection()._connection  # the aiosqlite connection the writer uses
        assert not await conn._execute(lambda: conn._conn.in_transaction)


@pytest.mark.parametrize("value", HOSTILE_TEXT)
async def test_hostile_text_fails_alone(storage, value):
    """Lone surrogates and over-long text are refused; a NUL is stored by SQLite and
    refused by PostgreSQL; whatever happens, the next write commits."""
    must_fail = len(value) > 255 or any("\ud800" <= c <= "\udfff" for c in value)
    try:
        await storage.write([Insert(Tenant, {"name": value})])
    except (BadRequest, IntegrityError):
        pass
    else:
        assert not must_fail, "stored a value the database cannot hold"
    await _tenant_writes_still_commit(storage, "after-text")


@pytest.mark.parametrize("value", HOSTILE_INTS)
async def test_integer_past_64_bits_fails_alone(storage, value):
    with pytest.raises(BadRequest):
        await storage.write([Insert(Tenant, {"name": "big", "created_ms": value})])
    assert not await Tenant.filter(name="big").exists()
    await _tenant_writes_still_commit(storage, "after-int")


async def test_a_bad_unit_in_a_busy_batch_fails_alone(storage):
    """Good and bad units queued together: the good ones commit, each bad one gets its own error."""
    units = []
    for i in range(60):
        if i % 3 == 0:
            units.append([Insert(Tenant, {"name": f"bad-{i}", "created_ms": 2**64})])
        elif i % 3 == 1:
            units.append([Insert(Tenant, {"name": f"bad-{i}\ud800"})])
        else:
            units.append([Insert(Tenant, {"name": f"good-{i}"})])
    results = await asyncio.gather(*(storage.submit(u) for u in units), return_exceptions=True)
    for i, result in enumerate(results):
        if i % 3 == 2:
            assert result is None, (i, result)
        else:
            assert isinstance(result, BadRequest), (i, result)
    assert await Tenant.filter(name__startswith="good-").count() == 20
    assert await Tenant.filter(name__startswith="bad-").count() == 0
    await _tenant_writes_still_commit(storage, "after-batch")


async def test_health_reports_a_writer_that_cannot_commit(storage):
    if storage.dialect != "sqlite":
        pytest.skip("the SQLite group writer's failure path")
    writer = storage.writer
    assert isinstance(writer, SqliteGroupWriter)
    conn = storage.connection()._connection
    await conn.execute("PRAGMA query_only = ON")  # the database now refuses every write
    try:
        with pytest.raises(Exception, match="readonly"):
            await storage.write([Insert(Tenant, {"name": "refused"})])
        health = storage.health()
        assert health["ok"] is False and "refuses commits" in health["reason"]
    finally:
        await conn.execute("PRAGMA query_only = OFF")
    await _tenant_writes_still_commit(storage, "recovered")


values = st.one_of(st.integers(min_value=-(2**80), max_value=2**80), st.text(max_size=20),
                   st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none())


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(key=st.text(min_size=0, max_size=300), ts=st.integers(min_value=-(2**70), max_value=2**70), value=values)
def test_writer_survives_any_timeseries_row(sqlite_storage_loop, key, ts, value):
    """Any key, ts and value handed straight to the writer (no edge validation): the unit
    commits or fails alone, and the next write commits."""
    loop, storage, device_id = sqlite_storage_loop

    async def go():
        try:
            await storage.write([Insert(TimeseriesValue, {"device_id": device_id, "key": key, "ts": ts,
                                                          "boxed": {"v": value}})])
        except (BadRequest, IntegrityError):
            pass
        await storage.write([Insert(TimeseriesValue, {"device_id": device_id, "key": "sentinel", "ts": 1,
                                                      "boxed": {"v": 1}})])
        assert storage.health() == {"ok": True}
    loop.run_until_complete(asyncio.wait_for(go(), 30))


@pytest.fixture(scope="module")
def sqlite_storage_loop(tmp_path_factory):
    from gridlinks.core.storage.models import Device, DeviceProfile

    loop = asyncio.new_event_loop()
    storage = Storage(f"sqlite://{tmp_path_factory.mktemp('hostile') / 'hub.db'}")

    async def setup():
        await storage.open()
        tenant = await Tenant.create(name="t")
        profile = await DeviceProfile.create(tenant=tenant, name="p")
        return (await Device.create(tenant=tenant, profile=profile, name="d")).id
    device_id = loop.run_until_complete(setup())
    try:
        yield loop, storage, device_id
    finally:
        loop.run_until_complete(storage.close())
        loop.close()

