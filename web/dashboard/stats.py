"""The overview's numbers, each one indexed query (no full scans per page view):
counts per tenant, provisionings today from the audit log, and hourly
success/failure buckets computed by the database, not by loading events."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from tortoise.expressions import RawSQL
from tortoise.functions import Count, Max

from gridlinks.core.errors import BadRequest
from gridlinks.core.services.device_payloads import decode_json
from gridlinks.core.storage.models import Attribute, AuditEvent, Device, DeviceProfile, Scope, now_ms

HOUR_MS = 3_600_000
PROVISIONED = "device_provisioned"
PROVISION_FAILED = "provision_failed"
CLAIMING_DATA = "claimingData"
CLAIM_ACTION = "device_claimed"


@dataclass
class Counts:
    profiles: int
    devices: int
    provisioned_today: int
    pending_claims: int


def midnight_utc_ms(now: int | None = None) -> int:
    now = now_ms() if now is None else now
    return now - now % 86_400_000


async def counts(tenant_id: uuid.UUID) -> Counts:
    profiles = await DeviceProfile.filter(tenant_id=tenant_id).count()
    devices = await Device.filter(tenant_id=tenant_id).count()
    today = await AuditEvent.filter(tenant_id=tenant_id, action=PROVISIONED, outcome="SUCCESS",
                                    ts__gte=midnight_utc_ms()).count()
    pending = await pending_claims(tenant_id)
    return Counts(profiles, devices, today, pending)


async def pending_claims(tenant_id: uuid.UUID) -> int:
    """Unassigned devices with server-side claim data that has not expired."""
    rows = await Attribute.filter(scope=Scope.SERVER, key=CLAIMING_DATA, device__tenant_id=tenant_id,
                                  device__customer_id__isnull=True).values_list("boxed", flat=True)
    now = now_ms()
    return sum(1 for boxed in rows if claim_expiration((boxed or {}).get("v")) > now)


def claim_expiration(value) -> int:
    """``claimingData``'s expirationTime (object or JSON text); missing means expired."""
    if isinstance(value, str):
        try:
            value = decode_json(value, "claimingData")
        except BadRequest:
            return 0
    expires = value.get("expirationTime") if isinstance(value, dict) else None
    return int(expires) if isinstance(expires, (int, float)) and not isinstance(expires, bool) else 0


async def claimed_at(tenant_id, device_ids: list) -> dict:
    """When each device was claimed: its latest successful ``device_claimed`` audit row
    (the claim is the only way a device gets a customer, and a claimed device must be
    released before it can be claimed again, so the latest success is the current
    claim). One indexed query for a page of devices; a device without a row maps to
    nothing (the page says "unknown"), never to its creation time."""
    if not device_ids:
        return {}
    rows = await (AuditEvent.filter(tenant_id=tenant_id, device_id__in=device_ids, action=CLAIM_ACTION,
                                    outcome="SUCCESS")
                  .annotate(at=Max("ts")).group_by("device_id").values_list("device_id", "at"))
    return {str(device_id): at for device_id, at in rows}


@dataclass
class Bucket:
    start_ms: int
    ok: int = 0
    failed: int = 0


async def provisioning_buckets(tenant_id: uuid.UUID, hours: int = 24, now: int | None = None) -> list[Bucket]:
    """Successes and failures per hour for the last ``hours`` hours, oldest first."""
    now = now_ms() if now is None else now
    start = now - now % HOUR_MS - (hours - 1) * HOUR_MS
    buckets = [Bucket(start + i * HOUR_MS) for i in range(hours)]
    rows = await (AuditEvent.filter(tenant_id=tenant_id, ts__gte=start, action__in=[PROVISIONED, PROVISION_FAILED])
                  .annotate(bucket=RawSQL(f"(ts - {int(start)}) / {HOUR_MS}"), n=Count("id"))
                  .group_by("bucket", "action").values("bucket", "action", "n"))
    for row in rows:
        index = int(row["bucket"])
        if 0 <= index < hours:
            if row["action"] == PROVISIONED:
                buckets[index].ok += row["n"]
            else:
                buckets[index].failed += row["n"]
    return buckets


def hour_label(ms: int) -> str:
    return time.strftime("%H:00", time.gmtime(ms / 1000))
