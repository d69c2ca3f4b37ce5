"""The approval inbox's service (``hub.services["approval"]``): the ``pre_provision``
decision for profiles with ``"approval": "manual"``, and what people do with parked
requests (list, approve, reject), plus expiry. Docs: docs/approval.md.

Every transition is one guarded write (the row changes only from the state it was read
in, so two admins deciding at once cannot both win) with its audit row in the same unit.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import secrets
import uuid
from typing import Any

from pydantic import Field
from tortoise.exceptions import IntegrityError

from gridlinks.core.bus import EventBus
from gridlinks.core.config import Settings
from gridlinks.core.errors import BadRequest, Conflict, NotFound
from gridlinks.core.services.audit import AuditLog
from gridlinks.core.services.pre_provision import PreProvisionDecision, public_request
from gridlinks.core.services.tokens import secrets_equal
from gridlinks.core.storage.database import Storage
from gridlinks.core.storage.models import DeviceProfile, now_ms
from gridlinks.core.storage.writes import Insert, NoRowMatched, Update
from gridlinks.core.types import ProvisionRequest
from gridlinks.plugins.approval.events import (
    ApprovalEvent,
    ProvisionApprovalExpired,
    ProvisionApprovalUsed,
    ProvisionApproved,
    ProvisionParked,
    ProvisionRejected,
)
from gridlinks.plugins.approval.models import (
    APPROVED,
    EXPIRED,
    PENDING,
    PROVISIONED,
    REJECTED,
    PendingProvision,
)

log = logging.getLogger(__name__)

SERVICE = "approval"
APPROVAL = "approval"  # provisionConfiguration member
MANUAL, AUTO = "manual", "auto"
SOURCE = "approval"
# Request members that say who the device is and what it asked for (its identity is the
# profile and the name; everything else must be identical on the retry).
_NOT_COMPARED = ("deviceName", "provisionDeviceKey", "provisionDeviceSecret")
STATUSES = (PENDING, APPROVED, REJECTED, EXPIRED, PROVISIONED)


class ApprovalSettings(Settings):
    pending_ttl_s: float = Field(86400.0, gt=0, description="a parked (or decided, unused) request closes after this")
    sweep_s: float = Field(60.0, gt=0, description="how often expired requests are closed")
    list_limit: int = Field(500, gt=0, le=10000)


def manual(profile: DeviceProfile) -> bool:
    """``"approval": "manual"`` (or true, what the dashboard's checkbox writes)."""
    return (profile.provision_config or {}).get(APPROVAL) in (MANUAL, True)


def _canonical(request: ProvisionRequest) -> str:
    asked = {k: v for k, v in request.fields.items() if k not in _NOT_COMPARED}
    asked["credentialsType"] = request.credentials_type
    return json.dumps(asked, sort_keys=True, separators=(",", ":"), default=str)


def _fingerprint(canonical: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(16)
    return f"sha256:{salt}:{hashlib.sha256((salt + canonical).encode()).hexdigest()}"


def _same_request(stored: str, canonical: str) -> bool:
    try:
        _, salt, _ = stored.split(":", 2)
    except ValueError:
        return False
    return secrets_equal(_fingerprint(canonical, salt), stored)


class ApprovalService:
    def __init__(self, storage: Storage, bus: EventBus, audit: AuditLog, settings: ApprovalSettings):
        self.storage = storage
        self.bus = bus
        self.audit = audit
        self.settings = settings

    @property
    def ttl_ms(self) -> int:
        return int(self.settings.pending_ttl_s * 1000)

    # -- the device's side: the pre_provision decision ------------------------------

    async def check(self, request: ProvisionRequest, profile: DeviceProfile) -> PreProvisionDecision | None:
        if not manual(profile):
            return None
        name = (request.device_name or "").strip()
        if not name:
            return PreProvisionDecision.deny("manual approval needs a device name", SOURCE)
        canonical = _canonical(request)
        now = now_ms()
        row = await self._open_row(profile, name, now)
        if row is None:
            if await self._park(request, profile, name, canonical, now):
                return PreProvisionDecision.pending("parked for approval", SOURCE)
            row = await self._open_row(profile, name, now)  # a concurrent request parked it first
            if row is None:
                return PreProvisionDecision.pending("parked for approval", SOURCE)
        if row.status == PENDING:
            await self._seen(row, request, canonical, now)
            return PreProvisionDecision.pending(f"awaiting approval (request {row.id})", SOURCE)
        if row.status == REJECTED:
            why = f": {row.reason}" if row.reason else ""
            return PreProvisionDecision.deny(f"rejected by {row.decided_by or 'an admin'}{why}", SOURCE)
        if row.credentials_type == request.credentials_type and _same_request(row.fingerprint, canonical):
            return PreProvisionDecision.allow(reason="approved", source=SOURCE,
                                              after=functools.partial(self._used, row, profile))
        return PreProvisionDecision.deny("the request differs from the approved one", SOURCE)

    async def _open_row(self, profile: DeviceProfile, name: str, now: int) -> PendingProvision | None:
        row = await PendingProvision.get_or_none(profile_id=profile.id, device_name=name, live=True)
        if row is not None and row.expires_ms <= now:
            await self._expire(row, profile.name)
            return None
        return row

    async def _park(self, request: ProvisionRequest, profile: DeviceProfile, name: str, canonical: str,
                    now: int) -> bool:
        row_id = uuid.uuid4()
        event = ProvisionParked(outcome="PENDING", tenant_id=str(profile.tenant_id), pending_id=str(row_id),
                                device_name=name, profile=profile.name, transport=request.transport, audited=True)
        try:
            await self.storage.write([
                Insert(PendingProvision, {
                    "id": row_id, "tenant_id": profile.tenant_id, "profile_id": profile.id, "device_name": name,
                    "credentials_type": request.credentials_type[:64], "fingerprint": _fingerprint(canonical),
                    "transport": request.transport[:16], "request": public_request(request), "status": PENDING,
                    "live": True, "attempts": 1, "created_ms": now, "last_seen_ms": now,
                    "expires_ms": now + self.ttl_ms}),
                self.audit.row_op(event)])
        except IntegrityError:
            return False
        await self.bus.fire(event)
        return True

    async def _seen(self, row: PendingProvision, request: ProvisionRequest, canonical: str, now: int) -> None:
        """A repeated request of a parked device: counted; the latest request is the one approved."""
        values: dict[str, Any] = {"attempts": row.attempts + 1, "last_seen_ms": now}
        if row.credentials_type != request.credentials_type or not _same_request(row.fingerprint, canonical):
            values.update(credentials_type=request.credentials_type[:64], fingerprint=_fingerprint(canonical),
                          request=public_request(request), transport=request.transport[:16])
        await self.storage.write([Update(PendingProvision, values, where={"id": row.id, "status": PENDING})])

    async def _used(self, row: PendingProvision, profile: DeviceProfile, body: dict[str, Any]) -> None:
        event = self._event(ProvisionApprovalUsed, row, profile.name, "SUCCESS", device_id=body.get("deviceId"))
        await self._transition(row, APPROVED, {"status": PROVISIONED, "live": None, "device_id": body.get("deviceId")},
                               event)

    async def _expire(self, row: PendingProvision, profile_name: str) -> bool:
        event = self._event(ProvisionApprovalExpired, row, profile_name, "EXPIRED", reason=f"was {row.status}")
        try:
            await self._transition(row, row.status, {"status": EXPIRED, "live": None}, event)
        except Conflict:
            return False
        return True

    # -- people's side --------------------------------------------------------------

    async def list(self, tenant_id: uuid.UUID | None, status: str | None = PENDING) -> list[PendingProvision]:
        """Requests of the tenant, newest first; ``status`` None: every open one, "all": all."""
        await self.expire_due()
        q = PendingProvision.all().prefetch_related("profile")
        if tenant_id is not None:
            q = q.filter(tenant_id=tenant_id)
        if status is None:
            q = q.filter(live=True)
        elif status != "all":
            if status not in STATUSES:
                raise BadRequest(f"status must be one of {', '.join(STATUSES)} or all")
            q = q.filter(status=status)
        return await q.order_by("-last_seen_ms").limit(self.settings.list_limit)

    async def get(self, tenant_id: uuid.UUID | None, pending_id: Any) -> PendingProvision:
        try:
            pid = uuid.UUID(str(pending_id))
        except ValueError:
            raise NotFound("no parked provision request has this id") from None
        q = PendingProvision.filter(id=pid)
        if tenant_id is not None:
            q = q.filter(tenant_id=tenant_id)
        row = await q.prefetch_related("profile").first()
        if row is None:
            raise NotFound("no parked provision request has this id")
        return row

    async def by_device(self, tenant_id: uuid.UUID | None, device_name: str,
                        profile_name: str | None = None) -> PendingProvision:
        """The open request of device ``device_name`` (in profile ``profile_name`` when
        several profiles have one)."""
        q = PendingProvision.filter(device_name=device_name, live=True).prefetch_related("profile")
        if tenant_id is not None:
            q = q.filter(tenant_id=tenant_id)
        rows = [r for r in await q if profile_name is None or r.profile.name == profile_name]
        if not rows:
            raise NotFound(f"no open provision request of device {device_name!r}")
        if len(rows) > 1:
            raise BadRequest(f"device {device_name!r} has open requests in several profiles "
                             f"({', '.join(sorted(r.profile.name for r in rows))}); name the profile")
        return rows[0]

    async def approve(self, row: PendingProvision, actor: str, reason: str | None = None) -> PendingProvision:
        if row.status != PENDING or row.expires_ms <= now_ms():
            raise Conflict(f"request {row.id} is {row.status if row.status != PENDING else 'expired'}, not pending")
        return await self._decide(row, ProvisionApproved, APPROVED, actor, reason)

    async def reject(self, row: PendingProvision, actor: str, reason: str | None = None) -> PendingProvision:
        if row.status not in (PENDING, APPROVED) or not row.live:
            raise Conflict(f"request {row.id} is {row.status}; only pending or approved requests can be rejected")
        return await self._decide(row, ProvisionRejected, REJECTED, actor, reason)

    async def _decide(self, row: PendingProvision, kind: type[ApprovalEvent], status: str, actor: str,
                      reason: str | None) -> PendingProvision:
        reason = (reason or "").strip()[:500] or None
        now = now_ms()
        profile = row.profile
        event = self._event(kind, row, profile.name, "SUCCESS", actor=actor[:255], reason=reason)
        await self._transition(row, row.status, {"status": status, "decided_ms": now, "decided_by": actor[:255],
                                                 "reason": reason, "expires_ms": now + self.ttl_ms}, event)
        return await self.get(row.tenant_id, row.id)

    async def expire_due(self) -> int:
        """Close every open request past its time; returns how many."""
        rows = await PendingProvision.filter(live=True, expires_ms__lte=now_ms()).prefetch_related("profile")
        closed = 0
        for row in rows:
            closed += await self._expire(row, row.profile.name)
        return closed

    async def sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_s)
            try:
                await self.expire_due()
            except Exception as exc:  # noqa: BLE001  (next round tries again)
                log.warning("approval: closing expired requests failed: %s", exc)

    # -- helpers --------------------------------------------------------------------

    @staticmethod
    def _event(kind: type[ApprovalEvent], row: PendingProvision, profile_name: str, outcome: str,
               **extra: Any) -> ApprovalEvent:
        return kind(outcome=outcome, tenant_id=str(row.tenant_id), pending_id=str(row.id),
                    device_name=row.device_name, profile=profile_name, transport=row.transport or None,
                    audited=True, **extra)

    async def _transition(self, row: PendingProvision, was: str, values: dict[str, Any],
                          event: ApprovalEvent) -> None:
        try:
            await self.storage.write([
                Update(PendingProvision, values, where={"id": row.id, "status": was, "live": True}, guard=True),
                self.audit.row_op(event)])
        except NoRowMatched:
            raise Conflict(f"request {row.id} was decided or closed meanwhile") from None
        await self.bus.fire(event)

    @staticmethod
    def to_json(row: PendingProvision) -> dict[str, Any]:
        profile = row.profile
        return {"id": str(row.id), "deviceName": row.device_name,
                "profile": {"id": str(profile.id), "name": profile.name},
                "credentialsType": row.credentials_type, "transport": row.transport, "status": row.status,
                "attempts": row.attempts, "createdTime": row.created_ms, "lastSeenTime": row.last_seen_ms,
                "expiresTime": row.expires_ms, "decidedTime": row.decided_ms, "decidedBy": row.decided_by,
                "reason": row.reason, "deviceId": str(row.device_id) if row.device_id else None,
                "request": row.request}
