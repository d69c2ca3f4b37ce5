"""Bulk provisioning from CSV (``POST /api/device/bulk_import``, ``gridlinks device import``).

Each line is one transaction: a bad line is reported as ``Line N (device NAME, column
COLUMN): reason`` (the device and column where they are known) and leaves nothing
behind, the good lines around it are kept. Devices imported without credentials get a
generated access token and form the pre-provisioned list that
``CHECK_PRE_PROVISIONED_DEVICES`` accepts.

Dashboard imports are jobs kept in the database (:class:`ImportJobs`, table
``bulk_import_job``): uploaded on one node, they are previewed, started, followed and
reported on any node of the hub.
"""

from __future__ import annotations

import asyncio
import csv
import inspect
import io
import logging
import os
import re
import secrets
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError

from gridlinks.core.errors import BadRequest, HubError
from gridlinks.core.events import BulkImportFinished
from gridlinks.core.services.conflicts import CREDENTIALS_ID, DEVICE_NAME, broken_rule, conflict_message
from gridlinks.core.services.credentials import replace_credentials_ops
from gridlinks.core.services.devices import attribute_upsert, telemetry_ops
from gridlinks.core.storage.bulk_rows import NewDeviceRows, checkpoint, existing_devices, write_units
from gridlinks.core.storage.models import BulkImportJob, Device, DeviceProfile, Scope, Tenant, now_ms
from gridlinks.core.storage.writes import Delete, Insert, NoRowMatched, Update, compile_op
from gridlinks.core.types import ProvisionRefused, ProvisionRequest

if TYPE_CHECKING:
    from gridlinks.core.bus import EventBus
    from gridlinks.core.services.credentials import CredentialService
    from gridlinks.core.services.devices import DeviceService
    from gridlinks.core.services.profiles import ProfileService
    from gridlinks.core.storage.database import Storage

log = logging.getLogger(__name__)

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


class LineError(BadRequest):
    """Why one line was not imported, and the column it is about (None: the line as a whole)."""

    def __init__(self, message: str, column: str | None = None):
        super().__init__(message)
        self.column = column


def line_error(number: int, name: str, column: str | None, message: str) -> str:
    """``Line 4 (device thermo-7, column ACCESS_TOKEN): message``; the parts not known left out."""
    where = ", ".join(part for part in (f"device {name}" if name else "", f"column {column}" if column else "")
                      if part)
    return f"Line {number} ({where}): {message}" if where else f"Line {number}: {message}"


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    errors: int = 0
    errors_list: list[str] = field(default_factory=list)
    # Devices created or updated per profile name (said by the CLI; not part of the API's answer).
    profiles: Counter[str] = field(default_factory=Counter)
    _numbered: list[tuple[int, str]] = field(default_factory=list, repr=False)

    def fail(self, number: int, name: str, column: str | None, message: str) -> None:
        self.errors += 1
        self._numbered.append((number, line_error(number, name, column, message)))

    def sort_errors(self) -> None:
        self.errors_list = [text for _, text in sorted(self._numbered, key=lambda e: e[0])]

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
    cred_columns: list[str] = field(default_factory=list)

    @property
    def cred_column(self) -> str | None:
        return "/".join(self.cred_columns) or None


def name_cell(row: Sequence[str], mapping: Mapping) -> str:
    """The line's device name, if its NAME cell is there (for error messages)."""
    index = next(i for i, col in enumerate(mapping.columns) if col["type"] == "NAME")
    return row[index].strip() if index < len(row) else ""


def parse_line(number: int, row: Sequence[str], mapping: Mapping) -> _Line:
    if len(row) < len(mapping.columns):
        raise BadRequest(f"expected {len(mapping.columns)} columns, found {len(row)}")
    values: dict[str, str] = {}
    attributes: dict[str, dict[str, Any]] = {Scope.SHARED: {}, Scope.SERVER: {}}
    telemetry: dict[str, Any] = {}
    cred_fields: dict[str, str] = {}
    cred_columns: list[str] = []
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
                raise LineError("a line may carry only one type of credentials", kind)
            cred_type = ctype
            cred_fields[fname] = cell
            cred_columns.append(kind)
        elif kind not in _KEYED and kind not in _CREDENTIAL_COLUMNS:
            values[kind] = cell
    name = values.get("NAME", "")
    if not name:
        raise LineError("device name is empty", "NAME")
    return _Line(number, name, values, attributes, telemetry, cred_type, cred_fields, cred_columns)


class BulkImporter:
    """Lines are parsed and checked in order, then written in chunks: each line is its
    own atomic unit, and the units of a chunk are committed together (one transaction
    for the chunk unless a line breaks a constraint, then the chunk is replayed line by
    line). On SQLite a chunk is prepared rows committed by
    :func:`~gridlinks.core.storage.bulk_rows.write_units`; on PostgreSQL each line is a
    unit of the group writer, in its own transaction."""

    # Lines per chunk (one transaction) on SQLite. Large, because most of SQLite's cost
    # per transaction is the index pages it touches (the token's index is random) written
    # again to the WAL, and checkpointed, by every transaction: 512
    # lines a transaction cost about twice the SQLite time per line of 8,192, and 16,384
    # saved another ~10 % of the import's CPU on 100k lines. A chunk holds the database
    # connection for up to about half a second, during which other writes and ORM reads wait.
    CHUNK = 16384
    # Lines per chunk on PostgreSQL (that many units in flight on the connection pool).
    WRITER_CHUNK = 512
    # While a chunk is being planned, other tasks get the event loop every this many lines.
    YIELD_EVERY = 1024

    def __init__(self, storage: Storage, bus: EventBus, profiles: ProfileService, credentials: CredentialService,
                 devices: DeviceService):
        self.storage = storage
        self.bus = bus
        self.profiles = profiles
        self.credentials = credentials
        self.devices = devices
        self.jobs = ImportJobs(storage)
        self._new_rows: NewDeviceRows | None = None

    async def run(self, tenant: Tenant, text: str, mapping: Mapping, default_profile: DeviceProfile | None = None,
                  on_progress: Callable[[int, int], None | Awaitable[None]] | None = None,
                  actor: str | None = None, file_name: str | None = None) -> ImportResult:
        """Import ``text``; ``on_progress(done, total)`` after each chunk (it may be async).
        ``actor`` and ``file_name`` go to the audit row."""
        first = 1 if mapping.header else 0
        # Tuples, not csv's lists: a 100k-line file kept as lists made every full garbage
        # collection during the import walk them all.
        numbered = [(i + 1, tuple(row))
                    for i, row in enumerate(csv.reader(io.StringIO(text), delimiter=mapping.delimiter))
                    if i >= first and "".join(row).strip()]
        result = ImportResult()
        profiles: dict[str, DeviceProfile] = {}
        queue = numbered
        size = self.CHUNK if self.storage.dialect == "sqlite" else self.WRITER_CHUNK
        while queue:
            chunk, queue = self._take_chunk(queue, mapping, size)
            await self._write_chunk(tenant, chunk, mapping, default_profile, profiles, result)
            if on_progress:
                step = on_progress(len(numbered) - len(queue), len(numbered))
                if inspect.isawaitable(step):
                    await step
        if self.storage.dialect == "sqlite":
            await checkpoint(self.storage)
        result.sort_errors()
        await self.bus.fire(BulkImportFinished(outcome="SUCCESS" if not result.errors else "PARTIAL",
                                               tenant_id=str(tenant.id), actor=actor, file_name=file_name,
                                               **result.to_json()))
        return result

    async def run_job(self, job: BulkImportJob, tenant: Tenant, text: str, mapping: Mapping,
                      default_profile: DeviceProfile | None = None) -> None:
        """Run a dashboard job already claimed by :meth:`ImportJobs.claim`, keeping its
        progress and then its report (or why it stopped) in its row."""
        async def progress(done: int, total: int) -> None:
            await self.jobs.progress(job.id, done, total)
        try:
            result = await self.run(tenant, text, mapping, default_profile, on_progress=progress,
                                    actor=job.actor or None, file_name=job.filename)
        except Exception as exc:  # the report shows it; the hub keeps running
            log.warning("bulk import %s (%s) stopped: %s", job.id, job.filename, exc)
            await self.jobs.finish(job.id, error=str(exc) or type(exc).__name__)
            return
        await self.jobs.finish(job.id, result=result)

    @staticmethod
    def _take_chunk(queue: list[tuple[int, tuple[str, ...]]], mapping: Mapping, size: int):
        """Up to ``size`` lines with distinct device names (a repeated name waits for the next
        chunk, so it updates the device the earlier line created), and the lines left."""
        index = next(i for i, col in enumerate(mapping.columns) if col["type"] == "NAME")
        chunk: list[tuple[int, tuple[str, ...]]] = []
        names: set[str] = set()
        rest = []
        for position, (number, row) in enumerate(queue):
            if len(chunk) >= size:
                rest.extend(queue[position:])
                break
            # The name as parse_line reads it; a line too short to have one fails on its own.
            name = row[index].strip() if index < len(row) else ""
            if name in names:
                rest.append((number, row))
                continue
            names.add(name)
            chunk.append((number, row))
        return chunk, rest

    async def _write_chunk(self, tenant: Tenant, chunk: list[tuple[int, tuple[str, ...]]], mapping: Mapping,
                           default_profile: DeviceProfile | None, profiles: dict[str, DeviceProfile],
                           result: ImportResult) -> None:
        """Parse, check and write the lines of a chunk, each atomic on its own; the outcome
        of each in ``result``."""
        # The names as parse_line reads them (a line that fails to parse looks up a name for
        # nothing). A name longer than the column holds cannot be there (and the ORM's
        # filter refuses it: the whole import stopped on one such line); its line fails
        # on its own when written.
        index = next(i for i, col in enumerate(mapping.columns) if col["type"] == "NAME")
        longest = Device._meta.fields_map["name"].max_length
        names = [name for name in (row[index].strip() for _, row in chunk if index < len(row))
                 if len(name) <= longest]
        # SQLite: the chunk's units are prepared rows committed together (core/storage/bulk_rows.py);
        # PostgreSQL: each line is a unit of the writer, in its own transaction.
        rows = self._rows() if self.storage.dialect == "sqlite" else None
        existing: dict[str, Any]
        held: dict[str, str | None] = {}  # SQLite: the credentials id each existing device holds
        if rows is not None:
            found = await existing_devices(self.storage, tenant.id, names)
            existing = {name: device_id for name, (device_id, _) in found.items()}
            held = {name: credentials_id for name, (_, credentials_id) in found.items()}
        else:
            existing = dict(await Device.filter(tenant=tenant, name__in=names).values_list("name", "id"))
        # Per line to write: its unit, and (number, name, credentials column, created, profile name).
        # Each line is parsed and planned in one go: a chunk of parsed lines kept until the
        # end (eight dicts and lists a line) cost the import a fifth of its time in full
        # garbage collections; what is kept is tuples, which the collector stops tracking.
        units: list[Any] = []
        about: list[tuple[int, str, str | None, bool, str]] = []
        # Per unit: the credentials id it stores, the one its device gives up, the device's id.
        claims: list[tuple[str | None, str | None, Any]] = []
        for position, (number, row) in enumerate(chunk, 1):
            if position % self.YIELD_EVERY == 0:
                await asyncio.sleep(0)  # a large chunk does not hold up other requests
            try:
                line = parse_line(number, row, mapping)
            except HubError as exc:
                result.fail(number, name_cell(row, mapping), getattr(exc, "column", None), str(exc))
                continue
            device_id = existing.get(line.name)
            try:
                unit, profile_name, takes, unit_device = await self._line_ops(
                    tenant, line, device_id, mapping, default_profile, profiles, rows)
            except LineError as exc:
                result.fail(number, line.name, exc.column, str(exc))
                continue
            except (HubError, ProvisionRefused) as exc:
                result.fail(number, line.name, None, str(exc))
                continue
            units.append(unit)
            about.append((number, line.name, line.cred_column, device_id is None, profile_name))
            claims.append((takes, held.get(line.name) if takes is not None else None, unit_device))
        if rows is not None:
            errors = await write_units(self.storage, units, claims)
        else:
            errors = await asyncio.gather(*(self.storage.write(ops) for ops in units), return_exceptions=True)
        for (number, name, cred_column, created, profile_name), error in zip(about, errors):
            if error is None:
                result.profiles[profile_name] += 1
                if created:
                    result.created += 1
                else:
                    result.updated += 1
            elif isinstance(error, IntegrityError):
                rule = broken_rule(error)
                column = "NAME" if rule == DEVICE_NAME else cred_column if rule == CREDENTIALS_ID else None
                result.fail(number, name, column, conflict_message(error))
            elif isinstance(error, HubError):
                result.fail(number, name, None, str(error))
            else:
                raise error

    def _rows(self) -> NewDeviceRows:
        if self._new_rows is None:
            self._new_rows = NewDeviceRows()  # after the models are initialised
        return self._new_rows

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

    async def _line_ops(self, tenant: Tenant, line: _Line, device_id: Any, mapping: Mapping,
                        default_profile: DeviceProfile | None, profiles: dict[str, DeviceProfile],
                        rows: NewDeviceRows | None = None) -> tuple[Any, str, str | None, Any]:
        """The line's unit, the name of the device's profile, the credentials id the unit
        stores (None: it keeps the device's credentials) and the device's id. The unit is writer ops, or
        with ``rows`` (SQLite) ``(sql, params)`` statements: a new device's two rows built
        directly, any other op compiled as the group writer would."""
        spec = None
        if line.cred_type:
            try:
                spec = await self.credentials.spec_for_request(
                    ProvisionRequest(line.name, "", "", line.cred_type, line.cred_fields))
            except (HubError, ProvisionRefused) as exc:
                raise LineError(str(exc), line.cred_column) from exc
        try:
            profile = await self._profile(tenant, line.values.get("TYPE"), default_profile, profiles)
        except HubError as exc:
            raise LineError(str(exc), "TYPE") from exc
        values = line.values
        is_gateway = values.get("IS_GATEWAY", "").lower() == "true"
        prepared: tuple = ()
        ops: list
        if device_id is None:
            spec = spec or await self.credentials.default_spec()
            label, description = values.get("LABEL", ""), values.get("DESCRIPTION", "")
            if rows is not None and rows.fits(line.name, profile.name, label, spec.type, spec.id):
                device_id = rows.new_id()
                prepared = rows.unit(device_id, tenant.id, profile.id, line.name, profile.name, label,
                                     description, is_gateway, spec.type, spec.id, spec.value)
                ops = []
            else:
                device_id, ops = self.devices.create_ops(tenant.id, profile, line.name, spec, label=label,
                                                         description=description, is_gateway=is_gateway)
        elif not mapping.update:
            raise LineError("Device with such name already exists!", "NAME")
        else:
            changes: dict[str, Any] = {"profile_id": profile.id, "type": profile.name}
            for key, attr in (("LABEL", "label"), ("DESCRIPTION", "description")):
                if key in values:
                    changes[attr] = values[key]
            if "IS_GATEWAY" in values:
                changes["is_gateway"] = is_gateway
            ops = [Update(Device, changes, {"id": device_id})]
            if spec is not None:
                ops += replace_credentials_ops(device_id, spec)
        if line.attributes[Scope.SHARED] or line.attributes[Scope.SERVER] or line.telemetry:
            ts = now_ms()
            for scope, attrs in line.attributes.items():
                ops += [attribute_upsert(device_id, scope, k, v, ts) for k, v in attrs.items()]
            if line.telemetry:
                ops += telemetry_ops(device_id, [(ts, line.telemetry)])
        takes = spec.id if spec is not None else None
        if rows is None:
            return ops, profile.name, takes, device_id
        if ops:  # compile_op refuses what the writer would (an over-long value: BadRequest)
            prepared += tuple((st.sql, st.params) for st in (compile_op(op, "sqlite") for op in ops))
        return prepared, profile.name, takes, device_id


def count_lines(text: str, delimiter: str, header: bool) -> int:
    """The lines of a CSV that hold something, without its header."""
    rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if any(c.strip() for c in r)]
    return max(len(rows) - (1 if header else 0), 0)


_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


class ImportJobs:
    """Dashboard imports as rows of ``bulk_import_job``: created at upload (state
    ``preview``), claimed once (``running``, by one node even if two start it), then
    ``done`` with its report or ``failed`` with why. Every change is a committed write, so
    every node reads the same job. A running job whose node has said nothing for
    ``STALE_MS`` (the node stopped or died) reads as failed."""

    KEEP = 20          # finished jobs kept per tenant
    STALE_MS = 120_000

    def __init__(self, storage: Storage):
        self.storage = storage
        self.node = f"{socket.gethostname()}:{os.getpid()}"

    async def create(self, tenant_id: Any, filename: str, text: str, delimiter: str, header: bool,
                     actor: str = "") -> BulkImportJob:
        if "\x00" in text:
            raise BadRequest("The file holds NUL characters: it is not CSV text.")
        job_id = secrets.token_urlsafe(12)
        filename = "".join(c for c in filename if c.isprintable())[:255].strip()
        values = {"id": job_id, "tenant_id": tenant_id, "filename": filename or "upload.csv", "csv": text,
                  "delimiter": delimiter, "header": header, "actor": actor[:255],
                  "lines": count_lines(text, delimiter, header)}
        older = await (BulkImportJob.filter(tenant_id=tenant_id).exclude(state="running")
                       .order_by("-created_ms").offset(self.KEEP - 1).values_list("id", flat=True))
        await self.storage.write([Insert(BulkImportJob, values),
                                  *(Delete(BulkImportJob, {"id": old}) for old in older)])
        return await BulkImportJob.get(id=job_id)

    async def get(self, tenant_id: Any, job_id: str) -> BulkImportJob | None:
        if not _JOB_ID.fullmatch(job_id):  # what a URL may carry never reaches the database
            return None
        return await BulkImportJob.get_or_none(id=job_id, tenant_id=tenant_id)

    async def recent(self, tenant_id: Any, limit: int = KEEP) -> list[BulkImportJob]:
        return await (BulkImportJob.filter(tenant_id=tenant_id).order_by("-created_ms").limit(limit)
                      .only("id", "tenant_id", "filename", "actor", "lines", "state", "node", "done", "total",
                            "result", "error", "created_ms", "updated_ms"))

    async def claim(self, job: BulkImportJob) -> bool:
        """Mark a previewed job running on this node; False if it was started already
        (on this node or another)."""
        try:
            await self.storage.write([Update(BulkImportJob, {"state": "running", "node": self.node,
                                                             "total": job.lines, "updated_ms": now_ms()},
                                             {"id": job.id, "state": "preview"}, guard=True)])
        except NoRowMatched:
            return False
        return True

    async def progress(self, job_id: str, done: int, total: int) -> None:
        await self.storage.write([Update(BulkImportJob, {"done": done, "total": total, "updated_ms": now_ms()},
                                         {"id": job_id})])

    async def finish(self, job_id: str, result: ImportResult | None = None, error: str = "") -> None:
        values: dict[str, Any] = {"state": "done" if result is not None else "failed", "csv": "",
                                  "updated_ms": now_ms(), "error": error}
        if result is not None:
            values["result"] = result.to_json()
            values["done"] = values["total"] = result.created + result.updated + result.errors
        await self.storage.write([Update(BulkImportJob, values, {"id": job_id})])

    @classmethod
    def status(cls, job: BulkImportJob) -> dict[str, Any]:
        """The job as the dashboard shows and polls it."""
        state, error = job.state, job.error or None
        if state == "running" and now_ms() - job.updated_ms > cls.STALE_MS:
            state, error = "failed", f"the hub node running it ({job.node}) stopped before it ended"
        return {"state": state, "done": job.done, "total": job.total, "error": error, "result": job.result}
