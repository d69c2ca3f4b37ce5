"""The approval inbox's transitions, each an audited attempt (never with a secret)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gridlinks.core.events import Outcome


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalEvent(Outcome):
    """Base of the inbox's events: which parked request, of which device and profile."""

    name: ClassVar[str] = "provision_approval"
    tenant_id: str
    pending_id: str
    device_name: str
    profile: str
    transport: str | None = None
    actor: str | None = None
    reason: str | None = None
    device_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProvisionParked(ApprovalEvent):
    """Fires when an unknown device's request is parked in the inbox (outcome PENDING)."""

    name: ClassVar[str] = "provision_parked"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProvisionApproved(ApprovalEvent):
    """Fires when a person approved a parked request (the device's next identical request succeeds)."""

    name: ClassVar[str] = "provision_approved"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProvisionRejected(ApprovalEvent):
    """Fires when a person rejected a parked (or approved) request."""

    name: ClassVar[str] = "provision_rejected"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProvisionApprovalExpired(ApprovalEvent):
    """Fires when an open request passed ``approval.pending_ttl_s`` and was closed."""

    name: ClassVar[str] = "provision_approval_expired"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProvisionApprovalUsed(ApprovalEvent):
    """Fires when an approved device's retry created it (the request is closed)."""

    name: ClassVar[str] = "provision_approval_used"
