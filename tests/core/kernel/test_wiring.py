"""Services take what they use in their constructor, so one can be built and used without
a Hub (issue 12): here the device service with a storage, a bus and the credential
service, and its duplicate rules answered through the one conflict mapping."""

from __future__ import annotations

import pytest

from gridlinks.core.bus import EventBus
from gridlinks.core.errors import Conflict
from gridlinks.core.registry import Registry
from gridlinks.core.services.conflicts import CREDENTIALS_TAKEN, DUPLICATE_DEVICE
from gridlinks.core.services.credentials import CredentialService
from gridlinks.core.services.devices import DeviceService
from gridlinks.core.storage.database import Storage
from gridlinks.core.storage.models import DeviceProfile, Tenant
from gridlinks.core.types import CredentialSpec


@pytest.fixture
async def storage(tmp_path):
    store = Storage(f"sqlite://{tmp_path / 'hub.db'}")
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def test_device_service_works_without_a_hub(storage):
    bus = EventBus()
    credentials = CredentialService(Registry("credential type"), storage, bus)
    devices = DeviceService(storage, bus, credentials)
    tenant = await Tenant.create(name="t")
    profile = await DeviceProfile.create(tenant=tenant, name="p")

    device = await devices.create(tenant, profile, "d1", credentials=CredentialSpec("ACCESS_TOKEN", "tok-1", ""))
    assert (await devices.by_name(tenant.id, "d1")).id == device.id

    with pytest.raises(Conflict) as same_name:
        await devices.create(tenant, profile, "d1", credentials=CredentialSpec("ACCESS_TOKEN", "tok-2", ""))
    assert str(same_name.value) == DUPLICATE_DEVICE
    with pytest.raises(Conflict) as same_token:
        await devices.create(tenant, profile, "d2", credentials=CredentialSpec("ACCESS_TOKEN", "tok-1", ""))
    assert str(same_token.value) == CREDENTIALS_TAKEN
