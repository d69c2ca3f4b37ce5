"""Devices and their data: CRUD for people, telemetry and attributes for devices.

Attribute writes are upserts keyed by (device, scope, key); a change to shared
attributes fires ``attributes_updated`` so transports can push it to a subscribed device.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError

from gridlinks.core.errors import BadRequest, Conflict, NotFound
from gridlinks.core.events import AttributesDeleted, AttributesUpdated, DeviceCreated, DeviceDeleted
from gridlinks.core.services.conflicts import conflict_message
from gridlinks.core.services.credentials import credentials_insert
from gridlinks.core.services.device_payloads import check_kv
from gridlinks.core.storage.ids import new_id
from gridlinks.core.storage.models import (
    Attribute,
    Device,
    DeviceProfile,
    LatestValue,
    Scope,
    Tenant,
    TimeseriesValue,
    now_ms,
    wrap,
)
from gridlinks.core.storage.paging import Page, page_of
from gridlinks.core.storage.writes import Delete, Insert, Op, Upsert
from gridlinks.core.types import CredentialSpec

if TYPE_CHECKING:
    from gridlinks.core.bus import EventBus
    from gridlinks.core.services.credentials import CredentialService
    from gridlinks.core.storage.database import Storage

NOT_FOUND = "Requested item wasn't found!"
# The reference's "no customer" id (its NULL_UUID), which clients compare against.
NULL_CUSTOMER_ID = "13814000-1dd2-11b2-8080-808080808080"


def attribute_upsert(device_id: Any, scope: str, key: str, value: Any, ts: int | None = None,
                     insert_only: bool = False) -> Insert | Upsert:
    """Set one attribute. ``insert_only``: fail (IntegrityError) if it already exists,
    which is how "provision once" is enforced by the database."""
    values = {"device_id": device_id, "scope": scope, "key": key, "boxed": wrap(value),
              "last_update_ms": ts or now_ms()}
    if insert_only:
        return Insert(Attribute, values)
    return Upsert(Attribute, values, conflict=("device_id", "scope", "key"), update=("boxed", "last_update_ms"))


def telemetry_ops(device_id: Any, entries: list[tuple[int, dict[str, Any]]]) -> list[Op]:
    """Time-series rows plus latest-value upserts that never move a key back in time."""
    ops: list[Op] = [Insert(TimeseriesValue, {"device_id": device_id, "key": k, "ts": ts, "boxed": wrap(v)})
                     for ts, values in entries for k, v in values.items()]
    latest: dict[str, tuple[int, Any]] = {}
    for ts, values in entries:
        for k, v in values.items():
            if k not in latest or ts >= latest[k][0]:
                latest[k] = (ts, v)
    ops += [Upsert(LatestValue, {"device_id": device_id, "key": k, "ts": ts, "boxed": wrap(v)},
                   conflict=("device_id", "key"), update=("ts", "boxed"), newer="ts")
            for k, (ts, v) in latest.items()]
    return ops


class DeviceService:
    def __init__(self, storage: Storage, bus: EventBus, credentials: CredentialService):
        self.storage = storage
        self.bus = bus
        self.credentials = credentials

    # -- people's side ------------------------------------------------------------

    def create_ops(self, tenant_id: Any, profile: DeviceProfile, name: str, spec: CredentialSpec, *,
                   device_id: uuid.UUID | None = None, type: str | None = None, label: str = "",
                   description: str = "", is_gateway: bool = False) -> tuple[uuid.UUID, list[Op]]:
        """The atomic unit that creates a device with its credentials."""
        name = (name or "").strip()
        if not name:
            raise BadRequest("a device needs a name")
        device_id = device_id or new_id()
        return device_id, [
            Insert(Device, {"id": device_id, "tenant_id": tenant_id, "profile_id": profile.id, "name": name,
                            "type": type or profile.name, "label": label or "", "description": description or "",
                            "is_gateway": is_gateway}),
            credentials_insert(device_id, spec),
        ]

    async def create(self, tenant: Tenant, profile: DeviceProfile, name: str, *, type: str | None = None,
                     label: str = "", is_gateway: bool = False, credentials: CredentialSpec | None = None) -> Device:
        """A device with credentials (a generated access token unless given), atomically."""
        spec = credentials or await self.credentials.default_spec()
        device_id, ops = self.create_ops(tenant.id, profile, name, spec, type=type, label=label,
                                         is_gateway=is_gateway)
        try:
            await self.storage.write(ops)
        except IntegrityError as exc:
            raise Conflict(conflict_message(exc)) from None
        device = await Device.get(id=device_id)
        await self.bus.fire(DeviceCreated(device_id=str(device.id), device_name=device.name,
                                          tenant_id=str(tenant.id)))
        return device

    async def get(self, tenant_id: uuid.UUID | None, device_id: Any) -> Device:
        try:
            did = uuid.UUID(str(device_id))
        except ValueError:
            raise NotFound(NOT_FOUND) from None
        return await self._one(tenant_id, id=did)

    async def by_name(self, tenant_id: uuid.UUID | None, name: str) -> Device:
        return await self._one(tenant_id, name=name)

    @staticmethod
    async def _one(tenant_id: uuid.UUID | None, **where: Any) -> Device:
        """The device matching ``where`` within the tenant (any tenant if None), or 404."""
        if tenant_id is not None:
            where["tenant_id"] = tenant_id
        device = await Device.filter(**where).first()
        if device is None:
            raise NotFound(NOT_FOUND)
        return device

    async def page(self, tenant_id: uuid.UUID, page: int, page_size: int, text_search: str | None = None,
                   profile_id: Any = None, customer_id: Any = None) -> Page:
        q = Device.filter(tenant_id=tenant_id)
        if text_search:
            q = q.filter(name__icontains=text_search)
        if profile_id:
            q = q.filter(profile_id=profile_id)
        if customer_id:
            q = q.filter(customer_id=customer_id)
        return await page_of(q.order_by("-created_ms", "name"), page, page_size)

    async def delete(self, device: Device) -> None:
        await device.delete()
        await self.bus.fire(DeviceDeleted(device_id=str(device.id), device_name=device.name,
                                          tenant_id=str(device.tenant_id)))

    @staticmethod
    def to_json(device: Device) -> dict[str, Any]:
        return {
            "id": {"entityType": "DEVICE", "id": str(device.id)},
            "createdTime": device.created_ms,
            "tenantId": {"entityType": "TENANT", "id": str(device.tenant_id)},
            "customerId": {"entityType": "CUSTOMER",
                           "id": str(device.customer_id) if device.customer_id else NULL_CUSTOMER_ID},
            "name": device.name,
            "type": device.type,
            "label": device.label,
            "deviceProfileId": {"entityType": "DEVICE_PROFILE", "id": str(device.profile_id)},
            "additionalInfo": {"gateway": device.is_gateway, "description": device.description},
        }

    # -- attributes -----------------------------------------------------------------

    async def set_attributes(self, device: Device, scope: str, values: Any, source: str = "") -> None:
        if scope not in Scope.ALL:
            raise BadRequest(f"unknown attribute scope {scope!r}")
        values = check_kv(values, "attributes")
        if not values:
            return
        ts = now_ms()
        await self.storage.write([attribute_upsert(device.id, scope, k, v, ts) for k, v in values.items()])
        await self.bus.fire(AttributesUpdated(device_id=str(device.id), scope=scope,
                                              values=values, source=source))

    async def delete_attributes(self, device: Device, scope: str, keys: list[str], source: str = "") -> None:
        if scope not in Scope.ALL:
            raise BadRequest(f"unknown attribute scope {scope!r}")
        if not keys:
            return
        await self.storage.write([Delete(Attribute, {"device_id": device.id, "scope": scope, "key": k})
                                      for k in keys])
        await self.bus.fire(AttributesDeleted(device_id=str(device.id), scope=scope,
                                              keys=list(keys), source=source))

    async def get_attributes(self, device: Device, scope: str, keys: list[str] | None = None) -> list[Attribute]:
        q = Attribute.filter(device_id=device.id, scope=scope)
        if keys:
            q = q.filter(key__in=keys)
        return list(await q.order_by("key"))

    async def attribute_value(self, device: Device, scope: str, key: str) -> Any:
        row = await Attribute.get_or_none(device_id=device.id, scope=scope, key=key)
        return None if row is None else row.value

    # -- telemetry ------------------------------------------------------------------

    def queue_telemetry(self, device: Device, entries: list[tuple[int, dict[str, Any]]]) -> asyncio.Future:
        """Queue checked rows (:func:`~gridlinks.core.services.device_payloads.parse_telemetry`);
        the future resolves at commit. Rows of one device commit in the order they were queued."""
        return self.storage.submit(telemetry_ops(device.id, entries))

    async def latest_telemetry(self, device: Device, keys: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
        q = LatestValue.filter(device_id=device.id)
        if keys:
            q = q.filter(key__in=keys)
        return {r.key: [{"ts": r.ts, "value": r.value}] for r in await q.order_by("key")}

    async def timeseries(self, device: Device, keys: list[str], start_ms: int, end_ms: int,
                         limit: int = 100) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for key in keys:
            rows = await TimeseriesValue.filter(device_id=device.id, key=key, ts__gte=start_ms, ts__lte=end_ms) \
                .order_by("-ts").limit(limit)
            out[key] = [{"ts": r.ts, "value": r.value} for r in rows]
        return out
