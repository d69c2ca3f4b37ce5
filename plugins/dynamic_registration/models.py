"""The plugin's one table: a device's registration secret and where it stands.

A row of its own (not a ``device_credentials`` row, not ``device.additional_info``):
a whitelisted device keeps the credentials it was created with (its access token,
which CHECK_PRE_PROVISIONED_DEVICES hands out), and the device secret is an extra way
in that exists only while this plugin is enabled. Deleting the device deletes the row.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from gridlinks.core.storage.models import now_ms

DYNAMIC = "DYNAMIC"  # issued over MQTT on a password request (authmode 2)
STATIC = "STATIC"    # set by an admin; authmode 1 only


class DeviceSecret(Model):
    id = fields.BigIntField(primary_key=True)
    device = fields.OneToOneField("models.Device", related_name="registration_secret", on_delete=fields.CASCADE)
    mode = fields.CharField(max_length=16)
    # "sha256:<salt hex>:<digest hex>": compared in constant time, never reversible.
    secret_hash = fields.CharField(max_length=200)
    # The plaintext of a DYNAMIC secret until the device first logs in with it, so a
    # repeated password request gets the same secret; NULL from activation on.
    pending_secret = fields.CharField(max_length=255, null=True)
    issued_ms = fields.BigIntField(default=now_ms)
    activated_ms = fields.BigIntField(null=True)

    class Meta:
        table = "device_registration_secret"
