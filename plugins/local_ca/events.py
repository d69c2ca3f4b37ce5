"""Events of the local CA (audited: each carries an ``outcome``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gridlinks.core.events import Outcome


@dataclass(frozen=True, slots=True, kw_only=True)
class CaChanged(Outcome):
    """A tenant's device CA was generated, rotated or imported."""

    name: ClassVar[str] = "local_ca_changed"
    tenant_id: str
    action: str
    ca_serial: str
    actor: str = "hub"


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateSigned(Outcome):
    """The local CA signed a device's CSR (the device is created in the same request)."""

    name: ClassVar[str] = "local_ca_certificate_signed"
    tenant_id: str
    device_name: str
    serial: str
    transport: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateRevoked(Outcome):
    """A certificate the local CA signed was revoked: its credential is gone and its serial refused."""

    name: ClassVar[str] = "local_ca_certificate_revoked"
    tenant_id: str
    serial: str
    device_name: str
    reason: str
    actor: str
