"""Bulk provisioning from CSV (``POST /api/device/bulk_import``, ``gridlinks device import``).

Each line is one transaction: a bad line is reported as ``Line N: reason`` and leaves
nothing behind, the good lines around it are kept. Devices imported without
credentials get a generated access token and form the pre-provisioned list that
``CHECK_PRE_PROVISIONED_DEVICES`` accepts.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError

from gridlinks.core.errors import BadRequest, HubError
from gridlinks.core.events import BulkImportFinished
from gridlinks.core.services.conflicts import conflict_message
from gridlinks.core.services.credentials import replace_credentials_ops
from gridlinks.core.services.devices import attribute_upsert, telemetry_ops
from gridlinks.core.storage.models import Device, DeviceProfile, Scope, Tenant, now_ms
from gridlinks.core.storage.writes import Update
from gridlinks.core.types import ProvisionRefused, ProvisionRequest

if TYPE_CHECKING:
    from gridlinks.core.bus import EventBus
    from gridlinks.core.services.credentials import CredentialService
    from gridlinks.core.services.devices import DeviceService
    from gridlinks.core.services.profiles import ProfileService
    from gridlinks.core.storage.database import Storage

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
    def from_json(cls, raw: Any) -> Mapping:
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


@dataclass
class _Line:
    """One CSV line, parsed and checked, before anything is written."""

    number: int
    name: str
    values: dict[str, str]
    attributes: dict[str, dict[str, Any]]
    telemetry: dict[str, Any]
    cred_type: str | None
    cred_fields: dict[str, str]


def parse_line(number: int, row: list[str], mapping: Mapping) -> _Line:
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
        elif kind not in _KEYED and kind not in _CREDENTIAL_COLUMNS:
            values[kind] = cell
    name = values.get("NAME", "")
    if not name:
        raise BadRequest("device name is empty")
    return _Line(number, name, values, attributes, telemetry, cred_type, cred_fields)


class BulkImporter:
    """Lines are parsed and checked in order, then written in chunks: each line is its
    own atomic unit, and the units of a chunk are committed together by the storage's
    group commit (one transaction for the chunk unless a line breaks a constraint)."""

    CHUNK = 512

    def __init__(self, storage: Storage, bus: EventBus, profiles: ProfileService, credentials: CredentialService,
                 devices: DeviceService):
        self.storage = storage
        self.bus = bus
        self.profiles = profiles
        self.credentials = credentials
        self.devices = devices

    async def run(self, tenant: Tenant, text: str, mapping: Mapping, default_profile: DeviceProfile | None = None,
                  on_progress: Callable[[int, int], None] | None = None) -> ImportResult:
        rows = list(csv.reader(io.StringIO(text), delimiter=mapping.delimiter))
        first = 1 if mapping.header else 0
        numbered = [(i + 1, row) for i, row in enumerate(rows) if i >= first and any(c.strip() for c in row)]
        result = ImportResult()
        profiles: dict[str, DeviceProfile] = {}
        done = 0
        queue = numbered
        while queue:
            chunk, queue = self._take_chunk(queue, mapping, result)
            outcomes = await self._write_chunk(tenant, chunk, mapping, default_profile, profiles)
            for line, outcome in outcomes:
                if isinstance(outcome, str):
                    result.errors += 1
                    result.errors_list.append(f"Line {line.number}: {outcome}")
                elif outcome:
                    result.created += 1
                else:
                    result.updated += 1
            done = len(numbered) - len(queue)
            if on_progress:
                on_progress(done, len(numbered))
        result.errors_list.sort(key=lambda e: int(e.split(":", 1)[0].split()[1]))
        await self.bus.fire(BulkImportFinished(outcome="SUCCESS" if not result.errors else "PARTIAL",
                                               tenant_id=str(tenant.id), **result.to_json()))
        return result

    def _take_chunk(self, queue, mapping: Mapping, result: ImportResult):
        """Up to CHUNK parsed lines with distinct device names (a repeated name waits for
        the next chunk, so it updates the device the earlier line created)."""
        chunk: list[_Line] = []
        names: set[str] = set()
        rest = []
        for index, (number, row) in enumerate(queue):
            if len(chunk) >= self.CHUNK:
                rest.extend(queue[index:])
                break
            try:
                line = parse_line(number, row, mapping)
            except HubError as exc:
                result.errors += 1
                result.errors_list.append(f"Line {number}: {exc}")
                continue
            if line.name in names:
                rest.append((number, row))
                continue
            names.add(line.name)
            chunk.append(line)
        return chunk, rest

    async def _write_chunk(self, tenant: Tenant, chunk: list[_Line], mapping: Mapping,
                           default_profile: DeviceProfile | None, profiles: dict[str, DeviceProfile]):
        existing = {d.name: d for d in await Device.filter(tenant=tenant, name__in=[line.name for line in chunk])}
        units: list[tuple[_Line, list | str]] = []
        for line in chunk:
            try:
                units.append((line, await self._line_ops(tenant, line, existing.get(line.name), mapping,
                                                         default_profile, profiles)))
            except (HubError, ProvisionRefused) as exc:
                units.append((line, str(exc)))
        writes = [self.storage.write(ops) for _, ops in units if not isinstance(ops, str)]
        results = iter(await asyncio.gather(*writes, return_exceptions=True))
        # Per line: its error message, or whether the line created (True) or updated a device.
        outcomes: list[tuple[_Line, str | bool]] = []
        for line, ops in units:
            if isinstance(ops, str):
                outcomes.append((line, ops))
                continue
            error = next(results)
            if isinstance(error, IntegrityError):
                outcomes.append((line, conflict_message(error)))
            elif isinstance(error, BaseException):
                raise error
            else:
                outcomes.append((line, line.name not in existing))
        return outcomes

    async def _profile(self, tenant: Tenant, name: str | None, default: DeviceProfile | None,
                       cache: dict[str, DeviceProfile]) -> DeviceProfile:
        if not name:
            if default is not None:
                return default
            if "" not in cache:
                profile = await DeviceProfile.filter(tenant=tenant, is_default=True).first()
                if profile is None:
                    raise BadRequest("no TYPE column and the tenant has no default device profile")
                cache[""] = profile
            return cache[""]
        if name not in cache:
            profile = await DeviceProfile.get_or_none(tenant=tenant, name=name)
            # As in the reference, an unknown type creates a profile of that name.
            cache[name] = profile or await self.profiles.create(tenant, name)
        return cache[name]

    async def _line_ops(self, tenant: Tenant, line: _Line, device: Device | None, mapping: Mapping,
                        default_profile: DeviceProfile | None, profiles: dict[str, DeviceProfile]) -> list:
        spec = None
        if line.cred_type:
            spec = await self.credentials.spec_for_request(
                ProvisionRequest(line.name, "", "", line.cred_type, line.cred_fields))
        profile = await self._profile(tenant, line.values.get("TYPE"), default_profile, profiles)
        values = line.values
        is_gateway = values.get("IS_GATEWAY", "").lower() == "true"
        if device is None:
            device_id, ops = self.devices.create_ops(
                tenant.id, profile, line.name, spec or await self.credentials.default_spec(),
                label=values.get("LABEL", ""), description=values.get("DESCRIPTION", ""), is_gateway=is_gateway)
        elif not mapping.update:
            raise BadRequest("Device with such name already exists!")
        else:
            device_id = device.id
            changes: dict[str, Any] = {"profile_id": profile.id, "type": profile.name}
            for key, attr in (("LABEL", "label"), ("DESCRIPTION", "description")):
                if key in values:
                    changes[attr] = values[key]
            if "IS_GATEWAY" in values:
                changes["is_gateway"] = is_gateway
            ops = [Update(Device, changes, {"id": device_id})]
            if spec is not None:
                ops += replace_credentials_ops(device_id, spec)
        ts = now_ms()
        for scope, attrs in line.attributes.items():
            ops += [attribute_upsert(device_id, scope, k, v, ts) for k, v in attrs.items()]
        if line.telemetry:
            ops += telemetry_ops(device_id, [(ts, line.telemetry)])
        return ops
