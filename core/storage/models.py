"""Tortoise ORM models: the hub's whole persistent state.

Uniqueness rules live here, as database constraints, not as check-then-insert code:
device name per tenant, credentials id (token / MQTT identity / certificate hash),
provision key, one attribute per (device, scope, key). Concurrent requests that race
for the same name or token are settled by the database; the loser gets IntegrityError.

Plugins that need tables of their own register model modules through the
``register_models`` hook instead of adding them here.
"""

from __future__ import annotations

import time
from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

DEVICE_LIST_INDEX = "idx_device_tenant_created_id"


def wrap(value):
    """JSON columns hold ``{"v": value}``: Tortoise's JSONField cannot tell a plain
    string value from an already-encoded document, so every value is boxed."""
    return {"v": value}


class BoxedValue:
    """``.value`` for models whose JSON column ``boxed`` holds ``{"v": value}``."""

    boxed: Any

    @property
    def value(self):
        return (self.boxed or {}).get("v")


def now_ms() -> int:
    return int(time.time() * 1000)


class Authority:
    SYS_ADMIN = "SYS_ADMIN"
    TENANT_ADMIN = "TENANT_ADMIN"
    CUSTOMER_USER = "CUSTOMER_USER"
    ALL = (SYS_ADMIN, TENANT_ADMIN, CUSTOMER_USER)


class Scope:
    SERVER = "SERVER_SCOPE"
    SHARED = "SHARED_SCOPE"
    CLIENT = "CLIENT_SCOPE"
    ALL = (SERVER, SHARED, CLIENT)


class HubSecret(Model):
    """Secrets every node of one hub must share (the JWT signing key), generated once by
    whichever node needs one first: a token signed by one node is valid on every other."""

    name = fields.CharField(max_length=64, primary_key=True)
    value = fields.TextField()

    class Meta:
        table = "hub_secret"


class SchemaVersion(Model):
    """One row per applied migration (see :mod:`gridlinks.core.storage.migrations`)."""

    version = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    applied_ms = fields.BigIntField(default=now_ms)

    class Meta:
        table = "schema_version"


class BulkImportJob(Model):
    """A dashboard bulk import and its report, in the database so that every node of a
    hub lists it, previews it, runs it once and shows its progress and report
    (:class:`gridlinks.core.services.bulk_import.ImportJobs`). ``csv`` holds the uploaded
    file until the import ends."""

    id = fields.CharField(max_length=32, primary_key=True)
    tenant_id = fields.UUIDField(db_index=True)
    filename = fields.CharField(max_length=255)
    actor = fields.CharField(max_length=255, default="")
    csv = fields.TextField(default="")
    delimiter = fields.CharField(max_length=1, default=",")
    header = fields.BooleanField(default=True)
    lines = fields.IntField(default=0)
    state = fields.CharField(max_length=16, default="preview")
    node = fields.CharField(max_length=255, default="")
    done = fields.IntField(default=0)
    total = fields.IntField(default=0)
    result: fields.JSONField[Any] = fields.JSONField(null=True)
    error = fields.TextField(default="")
    created_ms = fields.BigIntField(default=now_ms, db_index=True)
    updated_ms = fields.BigIntField(default=now_ms)

    class Meta:
        table = "bulk_import_job"


class Tenant(Model):
    id = fields.UUIDField(primary_key=True)
    name = fields.CharField(max_length=255, unique=True)
    created_ms = fields.BigIntField(default=now_ms)

    class Meta:
        table = "tenant"


class Customer(Model):
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField("models.Tenant", related_name="customers")
    title = fields.CharField(max_length=255)
    created_ms = fields.BigIntField(default=now_ms)

    class Meta:
        table = "customer"
        unique_together = (("tenant", "title"),)


class User(Model):
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyNullableRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="users", null=True)
    customer: fields.ForeignKeyNullableRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="users", null=True, on_delete=fields.SET_NULL)
    email = fields.CharField(max_length=255, unique=True)
    password_hash = fields.CharField(max_length=255)
    authority = fields.CharField(max_length=32)
    first_name = fields.CharField(max_length=255, default="")
    last_name = fields.CharField(max_length=255, default="")
    enabled = fields.BooleanField(default=True)
    created_ms = fields.BigIntField(default=now_ms)

    class Meta:
        table = "hub_user"


class DeviceProfile(Model):
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField("models.Tenant", related_name="profiles")
    name = fields.CharField(max_length=255)
    description = fields.TextField(default="")
    provision_type = fields.CharField(max_length=64, default="DISABLED")
    provision_key = fields.CharField(max_length=255, unique=True, null=True)
    provision_secret = fields.TextField(null=True)
    # The reference's profileData.provisionConfiguration, beyond type/secret (e.g. the
    # X.509 chain strategy's regex and allow-create flag), and plugin switches such as
    # dynamic registration.
    provision_config: fields.JSONField[Any] = fields.JSONField(default=dict)
    is_default = fields.BooleanField(default=False)
    created_ms = fields.BigIntField(default=now_ms)

    class Meta:
        table = "device_profile"
        unique_together = (("tenant", "name"),)


class Device(Model):
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField("models.Tenant", related_name="devices")
    profile: fields.ForeignKeyRelation[DeviceProfile] = fields.ForeignKeyField(
        "models.DeviceProfile", related_name="devices", on_delete=fields.RESTRICT)
    customer: fields.ForeignKeyNullableRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="devices", null=True, on_delete=fields.SET_NULL)
    name = fields.CharField(max_length=255)
    type = fields.CharField(max_length=255, default="default")
    label = fields.CharField(max_length=255, default="")
    description = fields.TextField(default="")
    is_gateway = fields.BooleanField(default=False)
    enabled = fields.BooleanField(default=True)
    # Per-plugin facts about a device (e.g. dynamic-registration activation).
    additional_info: fields.JSONField[Any] = fields.JSONField(default=dict)
    created_ms = fields.BigIntField(default=now_ms, db_index=True)

    class Meta:
        table = "device"
        unique_together = (("tenant", "name"),)
        # The device list's order (newest first, keyset-paginated): without it SQLite
        # sorts a whole tenant for every page. Added to older databases by migration 2.
        indexes = (Index(fields=("tenant_id", "created_ms", "id"), name=DEVICE_LIST_INDEX),)


class DeviceCredentials(Model):
    id = fields.UUIDField(primary_key=True)
    device: fields.OneToOneRelation[Device] = fields.OneToOneField(
        "models.Device", related_name="credentials", on_delete=fields.CASCADE)
    credentials_type = fields.CharField(max_length=64)
    credentials_id = fields.CharField(max_length=512, unique=True)
    credentials_value = fields.TextField(default="")
    created_ms = fields.BigIntField(default=now_ms)

    class Meta:
        table = "device_credentials"


class Attribute(BoxedValue, Model):
    id = fields.BigIntField(primary_key=True)
    device: fields.ForeignKeyRelation[Device] = fields.ForeignKeyField(
        "models.Device", related_name="attributes", on_delete=fields.CASCADE)
    scope = fields.CharField(max_length=16)
    key = fields.CharField(max_length=255)
    boxed: fields.JSONField[Any] = fields.JSONField(source_field="value", default=dict)
    last_update_ms = fields.BigIntField(default=now_ms)

    class Meta:
        table = "attribute"
        unique_together = (("device", "scope", "key"),)


class TimeseriesValue(BoxedValue, Model):
    id = fields.BigIntField(primary_key=True)
    device: fields.ForeignKeyRelation[Device] = fields.ForeignKeyField(
        "models.Device", related_name="timeseries", on_delete=fields.CASCADE)
    key = fields.CharField(max_length=255)
    ts = fields.BigIntField()
    boxed: fields.JSONField[Any] = fields.JSONField(source_field="value", default=dict)

    class Meta:
        table = "ts_kv"
        indexes = (("device", "key", "ts"),)


class LatestValue(BoxedValue, Model):
    id = fields.BigIntField(primary_key=True)
    device: fields.ForeignKeyRelation[Device] = fields.ForeignKeyField(
        "models.Device", related_name="latest", on_delete=fields.CASCADE)
    key = fields.CharField(max_length=255)
    ts = fields.BigIntField()
    boxed: fields.JSONField[Any] = fields.JSONField(source_field="value", default=dict)

    class Meta:
        table = "ts_kv_latest"
        unique_together = (("device", "key"),)


class AuditEvent(Model):
    id = fields.BigIntField(primary_key=True)
    ts = fields.BigIntField(default=now_ms, db_index=True)
    tenant_id = fields.UUIDField(null=True)
    action = fields.CharField(max_length=64, db_index=True)
    outcome = fields.CharField(max_length=16)
    transport = fields.CharField(max_length=16, default="")
    device_id = fields.UUIDField(null=True, db_index=True)
    device_name = fields.CharField(max_length=255, default="")
    actor = fields.CharField(max_length=255, default="")
    reason = fields.TextField(default="")
    details: fields.JSONField[Any] = fields.JSONField(default=dict)

    class Meta:
        table = "audit_event"


class ProvisionSlot(Model):
    """One successful provisioning through a profile with ``maxProvisionsPerMinute``, in
    its calendar minute (``window`` = epoch ms // 60000). ``slot`` is 0..limit-1 and unique
    per (profile, window), so two nodes that count the same free slot cannot both take
    it: the database settles the race (core/services/provision_policy.py)."""

    id = fields.BigIntField(primary_key=True)
    profile: fields.ForeignKeyRelation[DeviceProfile] = fields.ForeignKeyField(
        "models.DeviceProfile", related_name="provision_slots", on_delete=fields.CASCADE)
    window = fields.BigIntField()
    slot = fields.IntField()

    class Meta:
        table = "provision_slot"
        unique_together = (("profile", "window", "slot"),)
