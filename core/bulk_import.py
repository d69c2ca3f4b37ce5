"""Bulk provisioning from CSV (``POST /api/device/bulk_import``, ``gridlinks device import``).

Each line is one transaction: a bad line is reported as ``Line N: reason`` and leaves
nothing behind, the good lines around it are kept. Devices imported without
credentials get a generated access token and form the pre-provisioned list that
``CHECK_PRE_PROVISIONED_DEVICES`` accepts.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError

from gridlinks.core.errors import BadRequest, HubError
from gridlinks.core.models import Device, DeviceCredentials, DeviceProfile, Scope, Tenant
from gridlinks.core.types import ProvisionRefused, ProvisionRequest

if TYPE_CHECKING:
    from gridlinks.core.hub import Hub

COLUMN_TYPES = {"NAME", "TYPE", "LABEL", "DESCRIPTION", "IS_GATEWAY", "SHARED_ATTRIBUTE", "SERVER_ATTRIBUTE",
                "TIMESERIES", "ACCESS_TOKEN", "X509", "MQTT_CLIENT_ID", "MQTT_USER_NAME", "MQTT_PASSWORD"}
_CREDENTIAL_COLUMNS = {"ACCESS_TOKEN": ("ACCESS_TOKEN", "token"), "X509": ("X509_CERTIFICATE", "hash"),
                       "MQTT_CLIENT_ID": ("MQTT_BASIC", "clientId"), "MQTT_USER_NAME": ("MQTT_BASIC", "username"),
                       "MQTT_PASSWORD": ("MQTT_BASIC", "password")}
_KEYED = {"SHARED_ATTRIBUTE", "SERVER_ATTRIBUTE", "TIMESERIES"}


def typed_value(text: str) -> Any:
    """CSV cells become booleans and numbers where they look like them, as in the reference."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    errors: int = 0
    errors_list: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated, "errors": self.errors,
                "errorsList": self.errors_list}


@dataclass
class Mapping:
    columns: list[dict[str, Any]]
    delimiter: str = ","
    update: bool = True
    header: bool = True

    @classmethod
    def from_json(cls, raw: Any) -> "Mapping":
        if not isinstance(raw, dict) or not isinstance(raw.get("columns"), list) or not raw["columns"]:
            raise BadRequest("mapping.columns must be a non-empty list")
        columns = []
        for i, col in enumerate(raw["columns"], 1):
            if not isinstance(col, dict) or col.get("type") not in COLUMN_TYPES:
                raise BadRequest(f"mapping column {i} has an unknown type (one of {', '.join(sorted(COLUMN_TYPES))})")
            if col["type"] in _KEYED and not (isinstance(col.get("key"), str) and col["key"]):
                raise BadRequest(f"mapping column {i} ({col['type']}) needs a key")
            columns.append(col)
        if sum(1 for c in columns if c["type"] == "NAME") != 1:
            raise BadRequest("mapping needs exactly one NAME column")
        delimiter = raw.get("delimiter") or ","
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise BadRequest("delimiter must be one character")
        return cls(columns, delimiter, bool(raw.get("update", True)), bool(raw.get("header", True)))


class BulkImporter:
    def __init__(self, hub: "Hub"):
        self.hub = hub

    async def run(self, tenant: Tenant, text: str, mapping: Mapping, default_profile: DeviceProfile | None = None,
                  on_progress: Callable[[int, int], None] | None = None) -> ImportResult:
        rows = list(csv.reader(io.StringIO(text), delimiter=mapping.delimiter))
        first = 1 if mapping.header else 0
        result = ImportResult()
        total = max(len(rows) - first, 0)
        profiles: dict[str, DeviceProfile] = {}
        for index in range(first, len(rows)):
            line_no = index + 1
            row = rows[index]
            if not any(cell.strip() for cell in row):
                continue
            try:
                created = await self._import_row(tenant, row, mapping, default_profile, profiles)
            except (HubError, ProvisionRefused) as exc:
                result.errors += 1
                result.errors_list.append(f"Line {line_no}: {exc}")
            else:
                if created:
                    result.created += 1
                else:
                    result.updated += 1
            if on_progress:
                on_progress(index - first + 1, total)
        await self.hub.bus.fire("bulk_import_finished", {"outcome": "SUCCESS" if not result.errors else "PARTIAL",
                                                         "tenant_id": str(tenant.id), **result.to_json()})
        return result

    async def _profile(self, tenant: Tenant, name: str | None, default: DeviceProfile | None,
                       cache: dict[str, DeviceProfile]) -> DeviceProfile:
        if not name:
            if default is not None:
                return default
            profile = await DeviceProfile.filter(tenant=tenant, is_default=True).first()
            if profile is None:
                raise BadRequest("no TYPE column and the tenant has no default device profile")
            return profile
        if name not in cache:
            profile = await DeviceProfile.get_or_none(tenant=tenant, name=name)
            # As in the reference, an unknown type creates a profile of that name.
            cache[name] = profile or await self.hub.profiles.create(tenant, name)
        return cache[name]

    async def _import_row(self, tenant: Tenant, row: list[str], mapping: Mapping,
                          default_profile: DeviceProfile | None, profiles: dict[str, DeviceProfile]) -> bool:
        if len(row) < len(mapping.columns):
            raise BadRequest(f"expected {len(mapping.columns)} columns, found {len(row)}")
        values: dict[str, str] = {}
        attributes: dict[str, dict[str, Any]] = {Scope.SHARED: {}, Scope.SERVER: {}}
        telemetry: dict[str, Any] = {}
        cred_fields: dict[str, str] = {}
        cred_type = None
        for col, cell in zip(mapping.columns, row):
            kind = col["type"]
            cell = cell.strip()
            if kind == "SHARED_ATTRIBUTE" and cell:
                attributes[Scope.SHARED][col["key"]] = typed_value(cell)
            elif kind == "SERVER_ATTRIBUTE" and cell:
                attributes[Scope.SERVER][col["key"]] = typed_value(cell)
            elif kind == "TIMESERIES" and cell:
                telemetry[col["key"]] = typed_value(cell)
            elif kind in _CREDENTIAL_COLUMNS and cell:
                ctype, fname = _CREDENTIAL_COLUMNS[kind]
                if cred_type and cred_type != ctype:
                    raise BadRequest("a line may carry only one type of credentials")
                cred_type = ctype
                cred_fields[fname] = cell
            else:
                values[kind] = cell
        name = values.get("NAME", "")
        if not name:
            raise BadRequest("device name is empty")
        spec = None
        if cred_type:
            spec = await self.hub.credentials.spec_for_request(
                ProvisionRequest(name, "", "", cred_type, cred_fields))
        profile = await self._profile(tenant, values.get("TYPE"), default_profile, profiles)
        is_gateway = values.get("IS_GATEWAY", "").lower() == "true"
        device = await Device.get_or_none(tenant=tenant, name=name)
        if device is not None and not mapping.update:
            raise BadRequest("Device with such name already exists!")
        devices = self.hub.devices
        try:
            # One line, one transaction: a bad line leaves nothing behind.
            async with self.hub.storage.transaction() as tx:
                created = device is None
                if created:
                    device = await devices.create(tenant, profile, name, label=values.get("LABEL", ""),
                                                  is_gateway=is_gateway, credentials=spec, conn=tx)
                    device.description = values.get("DESCRIPTION", "")
                else:
                    device.profile = profile
                    device.type = profile.name
                    for key, attr in (("LABEL", "label"), ("DESCRIPTION", "description")):
                        if key in values:
                            setattr(device, attr, values[key])
                    if "IS_GATEWAY" in values:
                        device.is_gateway = is_gateway
                    if spec is not None:
                        await DeviceCredentials.filter(device_id=device.id).using_db(tx).delete()
                        await self.hub.credentials.store(device, spec, tx)
                await device.save(using_db=tx)
                for scope, attrs in attributes.items():
                    if attrs:
                        await devices.set_attributes(device, scope, attrs, conn=tx, source="bulk_import")
                if telemetry:
                    await devices.save_telemetry(device, telemetry, conn=tx)
        except IntegrityError:
            raise BadRequest("Device credentials are already assigned to another device!") from None
        return created
