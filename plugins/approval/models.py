"""The approval inbox's one table: provision requests parked until a person decides.

A request is identified by its profile and device name; while it is open (pending,
approved or rejected, not yet expired) ``live`` is TRUE, and the unique
(profile, device_name, live) constraint keeps one open row per device (closed rows have
``live`` NULL, which a unique constraint never compares). The device's credentials are
never stored: ``fingerprint`` is a salted SHA-256 of what it asked for, so its retry can
be recognised as identical.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from gridlinks.core.storage.models import now_ms

PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
EXPIRED = "expired"
PROVISIONED = "provisioned"
OPEN = (PENDING, APPROVED, REJECTED)


class PendingProvision(Model):
    id = fields.UUIDField(primary_key=True)
    tenant_id = fields.UUIDField(db_index=True)
    profile: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "models.DeviceProfile", related_name="pending_provisions", on_delete=fields.CASCADE)
    device_name = fields.CharField(max_length=255)
    credentials_type = fields.CharField(max_length=64)
    fingerprint = fields.CharField(max_length=200)  # "sha256:<salt hex>:<digest hex>"
    transport = fields.CharField(max_length=16, default="")
    request: fields.JSONField[Any] = fields.JSONField(default=dict)  # the request without secrets
    status = fields.CharField(max_length=16, default=PENDING)
    live = fields.BooleanField(null=True, default=True)
    attempts = fields.IntField(default=1)
    created_ms = fields.BigIntField(default=now_ms)
    last_seen_ms = fields.BigIntField(default=now_ms)
    expires_ms = fields.BigIntField(db_index=True)
    decided_ms = fields.BigIntField(null=True)
    decided_by = fields.CharField(max_length=255, null=True)
    reason = fields.CharField(max_length=500, null=True)
    device_id = fields.UUIDField(null=True)

    class Meta:
        table = "provision_pending"
        unique_together = (("profile", "device_name", "live"),)
