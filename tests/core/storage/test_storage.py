"""Storage on SQLite and PostgreSQL: constraints live in the database, and schema
upgrades keep an older data directory's rows."""

import asyncio

import pytest
from tortoise.exceptions import IntegrityError

from gridlinks.core.storage.database import Storage
from gridlinks.core.storage.migrations import MIGRATIONS, Migration
from gridlinks.core.storage.models import (
    Attribute,
    Device,
    DeviceCredentials,
    DeviceProfile,
    SchemaVersion,
    Tenant,
    wrap,
)
from tests.support import storage_url


async def _device(tenant, profile, name, token):
    device = await Device.create(tenant=tenant, profile=profile, name=name)
    await DeviceCredentials.create(device=device, credentials_type="ACCESS_TOKEN", credentials_id=token)
    return device


async def test_fresh_database_is_stamped(storage):
    assert sorted(await SchemaVersion.all().values_list("version", flat=True)) == [m.version for m in MIGRATIONS]
    if storage.dialect == "sqlite":
        conn = storage.connection()
        rows = await conn.execute_query_dict("PRAGMA journal_mode")
        assert rows[0]["journal_mode"] == "wal"


async def test_uniqueness_is_enforced_by_the_database(storage):
    tenant = await Tenant.create(name="t")
    profile = await DeviceProfile.create(tenant=tenant, name="p", provision_key="k1")
    device = await _device(tenant, profile, "d1", "tok1")
    with pytest.raises(IntegrityError):
        await Device.create(tenant=tenant, profile=profile, name="d1")
    with pytest.raises(IntegrityError):
        await _device(tenant, profile, "d2", "tok1")
    with pytest.raises(IntegrityError):
        await DeviceProfile.create(tenant=tenant, name="p2", provision_key="k1")
    await Attribute.create(device=device, scope="SERVER_SCOPE", key="a", boxed=wrap(1))
    with pytest.raises(IntegrityError):
        await Attribute.create(device=device, scope="SERVER_SCOPE", key="a", boxed=wrap(2))
    # same name in another tenant is fine
    other = await Tenant.create(name="t2")
    other_profile = await DeviceProfile.create(tenant=other, name="p")
    await Device.create(tenant=other, profile=other_profile, name="d1")


async def test_transaction_rolls_back_everything(storage):
    tenant = await Tenant.create(name="t")
    profile = await DeviceProfile.create(tenant=tenant, name="p")
    await _device(tenant, profile, "taken", "tok-taken")
    with pytest.raises(IntegrityError):
        async with storage.transaction() as tx:
            device = await Device.create(tenant=tenant, profile=profile, name="half", using_db=tx)
            await DeviceCredentials.create(device=device, credentials_type="ACCESS_TOKEN",
                                           credentials_id="tok-taken", using_db=tx)
    assert not await Device.filter(name="half").exists()


async def test_upgrade_keeps_data_and_applies_pending_migrations_once(db_url, tmp_path):
    url = storage_url(db_url, tmp_path)
    old = Storage(url)
    await old.open()
    tenant = await Tenant.create(name="kept")
    profile = await DeviceProfile.create(tenant=tenant, name="p")
    await _device(tenant, profile, "old-device", "old-token")
    await old.close()

    calls = []

    async def add_column(conn, dialect):
        calls.append(dialect)
        await conn.execute_script("ALTER TABLE device ADD COLUMN upgrade_note VARCHAR(40) DEFAULT 'none'")

    newer = [*MIGRATIONS, Migration(MIGRATIONS[-1].version + 1, "add device.upgrade_note", add_column)]
    for _ in range(2):  # the second start has nothing left to do
        store = Storage(url, migrations=newer)
        await store.open()
        assert await Device.filter(name="old-device").exists()
        assert await DeviceCredentials.filter(credentials_id="old-token").exists()
        rows = await store.connection().execute_query_dict("SELECT upgrade_note FROM device")
        assert rows == [{"upgrade_note": "none"}]
        await store.close()
    assert len(calls) == 1
    if db_url is None:
        backups = list((tmp_path / "backups").glob(f"hub.v{MIGRATIONS[-1].version}.*.db"))
        assert len(backups) == 1


async def test_a_batch_keeps_each_units_order_against_a_delete(storage):
    """Units that commit in one batch take effect as if written one after another: a
    delete in an earlier unit never removes what a later unit of the batch stored, even
    when the later unit's statement shape came first in the batch (grouped by shape,
    the delete would run last)."""
    from gridlinks.core.services.devices import attribute_upsert
    from gridlinks.core.storage.models import Scope
    from gridlinks.core.storage.writes import Delete

    tenant = await Tenant.create(name="t")
    profile = await DeviceProfile.create(tenant=tenant, name="p")
    first = await _device(tenant, profile, "first", "tok-first")
    second = await _device(tenant, profile, "second", "tok-second")
    units = [
        [attribute_upsert(first.id, Scope.SHARED, "a", 1)],  # the upsert shape appears first
        [Delete(Attribute, {"device_id": second.id})],  # then a unit clears the second device
        [attribute_upsert(second.id, Scope.SHARED, "b", 2)],  # and a later unit stores one for it
    ]
    await asyncio.gather(*(storage.submit(unit) for unit in units))  # one batch on SQLite
    kept = await Attribute.filter(device_id=second.id).values_list("key", flat=True)
    assert kept == ["b"]
