"""Events of the claim labels (audited: each carries an ``outcome``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gridlinks.core.events import Outcome


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimLabelsIssued(Outcome):
    name: ClassVar[str] = "claim_labels_issued"
    tenant_id: str
    batch: str
    profile: str
    count: int
    valid_until_ms: int
    actor: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimLabelsRevoked(Outcome):
    name: ClassVar[str] = "claim_labels_revoked"
    tenant_id: str
    batch: str
    actor: str
