"""Label batches and their one-time claim codes. A code is kept until it is used (then
``used_ms`` is set, in the same unit as the claim) or its batch is revoked."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from gridlinks.core.storage.models import now_ms


class ClaimLabelBatch(Model):
    id = fields.CharField(max_length=16, primary_key=True)
    tenant_id = fields.UUIDField()
    profile_name = fields.CharField(max_length=255)
    count = fields.IntField()
    created_ms = fields.BigIntField(default=now_ms)
    valid_until_ms = fields.BigIntField()
    revoked_ms = fields.BigIntField(null=True)

    class Meta:
        table = "claim_label_batch"


class ClaimLabel(Model):
    id = fields.BigIntField(primary_key=True)
    batch_id = fields.CharField(max_length=16, db_index=True)
    tenant_id = fields.UUIDField()
    device_name = fields.CharField(max_length=255)
    code = fields.TextField()
    valid_until_ms = fields.BigIntField()
    used_ms = fields.BigIntField(null=True)

    class Meta:
        table = "claim_label"
        unique_together = (("batch_id", "device_name"),)
        indexes = (("tenant_id", "device_name"),)
