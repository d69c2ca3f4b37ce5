"""Every certificate the local CA signed: its serial, which CA signed it, for which
device name, and whether it was revoked. The device's credential row holds the
certificate itself (an X509_CERTIFICATE credential, so the existing TLS login finds it);
this table is what revocation reads."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from gridlinks.core.storage.models import now_ms


class IssuedCertificate(Model):
    id = fields.BigIntField(primary_key=True)
    tenant_id = fields.UUIDField(db_index=True)
    serial = fields.CharField(max_length=64, db_index=True)  # hex
    ca_serial = fields.CharField(max_length=64)
    cert_id = fields.CharField(max_length=64, unique=True)  # SHA3-256 id, as the credential's
    device_name = fields.CharField(max_length=255)
    not_after_ms = fields.BigIntField()
    issued_ms = fields.BigIntField(default=now_ms)
    revoked_ms = fields.BigIntField(null=True)
    revoked_reason = fields.CharField(max_length=255, null=True)

    class Meta:
        table = "local_ca_issued_certificate"
