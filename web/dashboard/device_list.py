"""The device list query, built to stay fast with 100k devices per tenant.

Keyset pagination on (created_ms, id) instead of OFFSET: the next page starts where the
last one ended, so page 4,000 costs what page 1 costs. The "provisioned" flag is
looked up for the rows a page shows only (an EXISTS probe per scanned row only while
filtering on it). The total is counted only up to
a cap, so a broad filter never makes every page view count the whole table.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Q, RawSQL

from gridlinks.core.storage.models import Attribute, Customer, Device, Scope

PROVISIONED_SQL = ("EXISTS (SELECT 1 FROM attribute a WHERE a.device_id = device.id "
                   f"AND a.scope = '{Scope.SERVER}' AND a.key = 'provisionState')")


@dataclass
class DeviceFilter:
    text: str = ""
    profile_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    provisioned: bool | None = None
    claimed: bool | None = None

    def active(self) -> bool:
        return bool(self.text or self.profile_id or self.customer_id or self.provisioned is not None
                    or self.claimed is not None)


@dataclass
class Cursor:
    created_ms: int
    id: uuid.UUID

    def encode(self) -> str:
        return f"{self.created_ms}_{self.id}"

    @classmethod
    def decode(cls, raw: str | None) -> Cursor | None:
        if not raw:
            return None
        try:
            ms, _, rid = raw.partition("_")
            return cls(int(ms), uuid.UUID(rid))
        except ValueError:
            return None


@dataclass
class DevicePage:
    rows: list[dict[str, Any]]
    next: Cursor | None
    prev: Cursor | None
    total: int
    total_capped: bool


# The list's sort order (tenant, created_ms, id) is indexed by the core models
# (gridlinks.core.storage.models.DEVICE_LIST_INDEX), so a page never sorts the whole tenant.


def _filtered(tenant_id: uuid.UUID, flt: DeviceFilter):
    q = Device.filter(tenant_id=tenant_id)
    if flt.text:
        q = q.filter(name__icontains=flt.text)
    if flt.profile_id:
        q = q.filter(profile_id=flt.profile_id)
    if flt.customer_id:
        q = q.filter(customer_id=flt.customer_id)
    if flt.claimed is not None:
        q = q.filter(customer_id__isnull=not flt.claimed)
    if flt.provisioned is not None:
        q = q.annotate(provisioned=RawSQL(PROVISIONED_SQL)).filter(provisioned=flt.provisioned)
    return q


async def device_page(tenant_id: uuid.UUID, flt: DeviceFilter, size: int, after: Cursor | None = None,
                      before: Cursor | None = None, count_cap: int = 1000) -> DevicePage:
    q = _filtered(tenant_id, flt)
    if before is not None:
        q = q.filter(Q(created_ms__gt=before.created_ms) | Q(created_ms=before.created_ms, id__gt=before.id))
        q = q.order_by("created_ms", "id")
    else:
        if after is not None:
            q = q.filter(Q(created_ms__lt=after.created_ms) | Q(created_ms=after.created_ms, id__lt=after.id))
        q = q.order_by("-created_ms", "-id")
    rows = await q.limit(size + 1).values("id", "name", "type", "label", "created_ms", "customer_id", "profile_id")
    more = len(rows) > size
    rows = rows[:size]
    if before is not None:
        rows.reverse()
    await _decorate(rows)
    first = Cursor(rows[0]["created_ms"], rows[0]["id"]) if rows else None
    last = Cursor(rows[-1]["created_ms"], rows[-1]["id"]) if rows else None
    has_next = more if before is None else True
    has_prev = (after is not None) if before is None else more
    if after is None and before is None and not more:
        total, capped = len(rows), False  # everything fits on the first page: nothing to count
    else:
        total, capped = await _capped_count(tenant_id, flt, count_cap)
    return DevicePage(rows, last if has_next and rows else None, first if has_prev and rows else None, total, capped)


async def _decorate(rows: list[dict[str, Any]]) -> None:
    """Provisioned flag and customer title for the shown rows only: two indexed lookups
    for one page instead of a probe per device in the tenant."""
    ids = [r["id"] for r in rows]
    provisioned = set(await Attribute.filter(device_id__in=ids, scope=Scope.SERVER, key="provisionState")
                      .values_list("device_id", flat=True)) if ids else set()
    customer_ids = {r["customer_id"] for r in rows if r["customer_id"]}
    titles = dict(await Customer.filter(id__in=customer_ids).values_list("id", "title")) if customer_ids else {}
    for row in rows:
        row["provisioned"] = row["id"] in provisioned
        row["customer__title"] = titles.get(row["customer_id"])


async def _capped_count(tenant_id: uuid.UUID, flt: DeviceFilter, cap: int) -> tuple[int, bool]:
    if not flt.active():
        return await Device.filter(tenant_id=tenant_id).count(), False
    ids = await _filtered(tenant_id, flt).limit(cap + 1).values_list("id", flat=True)
    return min(len(ids), cap), len(ids) > cap
