"""One write path, and unique violations mapped by the constraint they break (issue 12).

The group writer says which constraint a unit broke as data (table, columns, and the
constraint's name where the database has one); ``core/services/conflicts.py`` is the one
place that turns that into the reference's message. Before, the rule was guessed from
the message text ("credentials" in it or not). A guarded Update makes a conditional
write - a claim that loses the race - commit nothing, inside the same write path.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from tortoise.exceptions import IntegrityError

from gridlinks.core.services.conflicts import (
    ATTRIBUTE_KEY,
    CREDENTIALS_ID,
    CREDENTIALS_TAKEN,
    DEVICE_NAME,
    DUPLICATE_DEVICE,
    DUPLICATE_PROFILE_KEY,
    PROFILE_KEY,
    broken_rule,
    conflict_message,
    provision_reason,
)
from gridlinks.core.services.credentials import credentials_insert
from gridlinks.core.services.devices import attribute_upsert
from gridlinks.core.storage.database import Storage
from gridlinks.core.storage.models import Attribute, Customer, Device, DeviceProfile, Scope, Tenant
from gridlinks.core.storage.writes import ConstraintViolation, Delete, Insert, NoRowMatched, Update
from gridlinks.core.types import CredentialSpec


async def _device_unit(tenant: Tenant, profile: DeviceProfile, name: str, credentials_id: str):
    device_id = uuid.uuid4()
    return device_id, [Insert(Device, {"id": device_id, "tenant_id": tenant.id, "profile_id": profile.id,
                                       "name": name}),
                       credentials_insert(device_id, CredentialSpec("ACCESS_TOKEN", credentials_id, ""))]


async def _tenant_and_profile():
    tenant = await Tenant.create(name="t")
    return tenant, await DeviceProfile.create(tenant=tenant, name="p", provision_key="key-1")


async def _violation(storage: Storage, unit) -> ConstraintViolation:
    with pytest.raises(ConstraintViolation) as caught:
        await storage.write(unit)
    assert isinstance(caught.value, IntegrityError)  # callers catching Tortoise's keep working
    return caught.value


async def test_a_duplicate_name_is_reported_by_table_and_columns(storage):
    tenant, profile = await _tenant_and_profile()
    await storage.write((await _device_unit(tenant, profile, "credentials", "tok-1"))[1])
    # Named "credentials": the old text search took this for a clash of credentials.
    error = await _violation(storage, (await _device_unit(tenant, profile, "credentials", "tok-2"))[1])
    assert (error.table, error.columns) == ("device", ("name", "tenant_id"))
    assert broken_rule(error) == DEVICE_NAME
    assert conflict_message(error) == DUPLICATE_DEVICE
    assert provision_reason(error, device_existed=False) == "a device with this name already exists"


async def test_taken_credentials_are_reported_as_such(storage):
    tenant, profile = await _tenant_and_profile()
    await storage.write((await _device_unit(tenant, profile, "a", "tok-1"))[1])
    error = await _violation(storage, (await _device_unit(tenant, profile, "b", "tok-1"))[1])
    assert (error.table, error.columns) == ("device_credentials", ("credentials_id",))
    assert broken_rule(error) == CREDENTIALS_ID
    assert conflict_message(error) == CREDENTIALS_TAKEN
    assert provision_reason(error, device_existed=False) == "requested credentials are already in use"
    assert await Device.filter(name="b").count() == 0  # the unit is atomic


async def test_a_second_provisioning_marker_means_already_provisioned(storage):
    tenant, profile = await _tenant_and_profile()
    device_id, unit = await _device_unit(tenant, profile, "a", "tok-1")
    await storage.write([*unit, attribute_upsert(device_id, Scope.SERVER, "provisioned", True, insert_only=True)])
    error = await _violation(storage, [attribute_upsert(device_id, Scope.SERVER, "provisioned", True,
                                                        insert_only=True)])
    assert broken_rule(error) == ATTRIBUTE_KEY
    assert provision_reason(error, device_existed=False) == "device is already provisioned"


async def test_a_taken_provision_key_through_the_writer(storage):
    tenant, _ = await _tenant_and_profile()
    error = await _violation(storage, [Insert(DeviceProfile, {"id": uuid.uuid4(), "tenant_id": tenant.id,
                                                              "name": "other", "provision_key": "key-1"})])
    assert broken_rule(error) == PROFILE_KEY
    assert conflict_message(error) == DUPLICATE_PROFILE_KEY


def test_only_structured_violations_are_mapped():
    """A bare IntegrityError whose text mentions credentials is not guessed at."""
    plain = IntegrityError("UNIQUE constraint failed: device_credentials.credentials_id")
    assert broken_rule(plain) is None
    assert conflict_message(plain) == DUPLICATE_DEVICE


async def test_a_guarded_update_that_matches_nothing_commits_nothing(storage):
    tenant, profile = await _tenant_and_profile()
    device_id, unit = await _device_unit(tenant, profile, "a", "tok-1")
    await storage.write([*unit, attribute_upsert(device_id, Scope.SERVER, "claimingAllowed", True)])
    customer_a, customer_b = uuid.uuid4(), uuid.uuid4()

    await Customer.create(id=customer_a, tenant=tenant, title="A")
    await Customer.create(id=customer_b, tenant=tenant, title="B")

    def claim(customer_id):
        return [Update(Device, {"customer_id": customer_id}, {"id": device_id}, where_null=("customer_id",),
                       guard=True),
                Delete(Attribute, {"device_id": device_id, "scope": Scope.SERVER, "key": "claimingAllowed"})]

    # Several units in flight at once share batches: exactly one claim wins, the others
    # fail alone, and an unguarded unit in the same batches still commits.
    results = await asyncio.gather(*(storage.write(claim(c)) for c in (customer_a, customer_b) * 3),
                                   storage.write([attribute_upsert(device_id, Scope.CLIENT, "k", 1)]),
                                   return_exceptions=True)
    assert sum(r is None for r in results[:6]) == 1, results
    assert all(isinstance(r, NoRowMatched) for r in results[:6] if r is not None)
    assert results[6] is None
    device = await Device.get(id=device_id)
    winner = customer_a if results[:6].index(None) % 2 == 0 else customer_b
    assert device.customer_id == winner
    assert not await Attribute.filter(device_id=device_id, key="claimingAllowed").exists()
    assert await Attribute.filter(device_id=device_id, scope=Scope.CLIENT, key="k").exists()

    # Unassigning is an unguarded Update of the same write path.
    await storage.write([Update(Device, {"customer_id": None}, {"id": device_id})])
    assert (await Device.get(id=device_id)).customer_id is None
