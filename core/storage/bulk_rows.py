"""Prepared rows for the bulk import on SQLite: many small atomic units committed in one
transaction without the group writer's per-value work.

The group writer (:mod:`gridlinks.core.storage.writes`) compiles every op of every unit
(a dict of values, the model's defaults, one converter call per value) and gives each
unit a future; for a 100k-line import that per-line Python cost five times the SQLite
work. Here the import hands over units already made of ``(sql, params)`` statements:

- :class:`NewDeviceRows` builds the two rows of a new device (the device and its
  credentials) as tuples, with the columns, defaults and conversions of the models fixed
  once per import, and says when a value needs the writer's own checks instead
  (over-long text): such a line goes through :func:`compile_op`, which refuses it with
  the writer's message;
- :func:`write_units` commits a chunk of units in one transaction, each statement shape
  as one ``executemany``; if anything fails, the transaction is rolled back and the units
  are replayed one by one in savepoints, so a bad unit fails alone (with the error the
  group writer would give it: :func:`~gridlinks.core.storage.writes.unit_error`) and the
  others commit. The chunk holds the connection's lock, as a writer batch does, so ORM
  transactions and the writer's batches never interleave with it.

SQLite only: on PostgreSQL each unit is its own transaction through the writer.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from gridlinks.core.storage.ids import new_id_texts
from gridlinks.core.storage.models import Device, DeviceCredentials
from gridlinks.core.storage.writes import observe_commit, rollback, unit_error

log = logging.getLogger(__name__)

Statement = tuple[str, Sequence[Any]]
Unit = Sequence[Statement]  # tuples: untracked by the garbage collector once it saw them

def _insert_sql(model: Any, names: Sequence[str]) -> str:
    meta = model._meta
    cols = ", ".join(f'"{meta.fields_db_projection[n]}"' for n in names)
    return f'INSERT INTO "{meta.db_table}" ({cols}) VALUES ({", ".join("?" * len(names))})'


def _max_length(model: Any, name: str) -> int | None:
    return getattr(model._meta.fields_map[name], "max_length", None)


class NewDeviceRows:
    """The device row and the credentials row of a new device, as the group writer would
    store ``DeviceService.create_ops`` (the same columns and values; the defaults of the
    models filled in the same way)."""

    DEVICE = ("id", "tenant_id", "profile_id", "name", "type", "label", "description", "is_gateway", "enabled",
              "additional_info", "created_ms", "customer_id")
    CREDENTIALS = ("id", "device_id", "credentials_type", "credentials_id", "credentials_value", "created_ms")

    def __init__(self) -> None:
        for model, names in ((Device, self.DEVICE), (DeviceCredentials, self.CREDENTIALS)):
            if set(names) != set(model._meta.fields_db_projection):
                # A column was added to the model: its default would not be filled in here.
                raise RuntimeError(f"NewDeviceRows does not know the columns of {model._meta.db_table}")
        self.device_sql = _insert_sql(Device, self.DEVICE)
        self.credentials_sql = _insert_sql(DeviceCredentials, self.CREDENTIALS)
        self.enabled = Device._meta.fields_map["enabled"].default
        self.additional_info = "{}"  # the JSON of the default (dict())
        self.text_max = min(_max_length(Device, n) or 0 for n in ("name", "type", "label"))
        self.type_max = _max_length(DeviceCredentials, "credentials_type") or 0
        self.id_max = _max_length(DeviceCredentials, "credentials_id") or 0
        self._ids: list[str] = []
        self._text: dict[Any, str] = {}  # str() of the tenant and profile ids (UUIDs)

    def fits(self, name: str, type_: str, label: str, cred_type: str, cred_id: str) -> bool:
        """Whether every checked value is within its column's length (else the line goes the
        writer's way, which refuses it with its own message)."""
        limit = self.text_max
        return (len(name) <= limit and len(type_) <= limit and len(label) <= limit
                and len(cred_type) <= self.type_max and len(cred_id) <= self.id_max)

    def new_id(self) -> str:
        if not self._ids:
            self._ids = new_id_texts(1024)[::-1]  # popped from the end: in time order
        return self._ids.pop()

    def _str(self, value: Any) -> str:
        text = self._text.get(value)
        if text is None:
            text = self._text[value] = str(value)
        return text

    def unit(self, device_id: str, tenant_id: Any, profile_id: Any, name: str, type_: str, label: str,
             description: str, is_gateway: bool, cred_type: str, cred_id: str, cred_value: str) -> Unit:
        """The statements of a new device (``device_id`` from :meth:`new_id`) and its credentials."""
        now = int(time.time() * 1000)
        return ((self.device_sql, (device_id, self._str(tenant_id), self._str(profile_id), name, type_, label,
                                   description, is_gateway, self.enabled, self.additional_info, now, None)),
                (self.credentials_sql, (self.new_id(), device_id, cred_type, cred_id, cred_value, now)))


def _group(units: Sequence[Unit]) -> list[tuple[str, list[Sequence[Any]]]]:
    """The statements of all units, one group per SQL text. Updates and deletes run
    first, then inserts into ``device``, then the rest in the order they first appear:
    an import unit is ``[update device, delete credentials, insert credentials, ...]`` or
    ``[insert device, insert credentials, ...]``, and this order keeps every unit's own
    order (a credentials row is never inserted before its device, nor deleted after
    its replacement was inserted). Across units, running deletes first differs from
    writing the units one by one only when a unit wants credentials a later unit gives
    up; the importer then asks for one by one (:func:`in_file_order`)."""
    groups: dict[str, list[Sequence[Any]]] = {}
    for unit in units:
        for sql, params in unit:
            rows = groups.get(sql)
            if rows is None:
                groups[sql] = rows = []
            rows.append(params)

    def rank(sql: str) -> int:
        if sql.startswith(("UPDATE", "DELETE")):
            return 0
        return 1 if sql.startswith('INSERT INTO "device" ') else 2
    return sorted(groups.items(), key=lambda item: rank(item[0]))


Claim = tuple[str | None, str | None, Any]  # credentials id stored, credentials id given up, device id


def checkpoint_sync(db: sqlite3.Connection) -> None:
    """Copy the WAL into the database (PASSIVE: never waits for readers), syncing both."""
    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


async def checkpoint(storage: Any) -> None:
    """After an import's last chunk: its chunks durable even against a power loss before
    the import answers (a commit under synchronous=NORMAL survives a crash of the
    process, not of the machine, until a checkpoint)."""
    async with storage.connection().acquire_connection() as conn:
        await conn._execute(checkpoint_sync, conn._conn)


def write_units_sync(db: sqlite3.Connection, units: Sequence[Unit],
                      claims: Sequence[Claim] | None = None) -> list[Exception | None]:
    """In the SQLite thread: all units in one transaction, each SQL text as one
    executemany. If that fails (or cannot be grouped, see :func:`in_file_order`), it is
    rolled back and written again in parts, each in a savepoint: the units expected to
    fail (see :func:`_expected_failures`) one by one, the runs between them grouped (a
    run that still fails, one by one). Per unit, None (committed) or its error. Never
    returns inside a transaction."""
    if db.in_transaction:
        log.warning("bulk rows: the connection was inside a transaction; rolled it back")
        rollback(db)
    grouped = claims is None or in_file_order(claims)
    if grouped:
        try:
            db.execute("BEGIN IMMEDIATE")
            for sql, rows in _group(units):
                db.executemany(sql, rows)
            db.execute("COMMIT")
            return [None] * len(units)
        except Exception as exc:
            rollback(db)
            if unit_error(exc) is None:
                raise  # the database itself failed
        except BaseException:
            rollback(db)
            raise
    results: list[Exception | None] = [None] * len(units)
    try:
        db.execute("BEGIN IMMEDIATE")
        if grouped and claims is not None:
            failing = _expected_failures(db, claims)
            start = 0
            for index in [*sorted(failing), len(units)]:
                if start < index:
                    _write_part(db, units, start, index, results)
                if index < len(units):
                    _write_part(db, units, index, index + 1, results)
                start = index + 1
        else:
            for index in range(len(units)):
                _write_part(db, units, index, index + 1, results)
        db.execute("COMMIT")
    except BaseException:
        rollback(db)
        raise
    return results


def _write_part(db: sqlite3.Connection, units: Sequence[Unit], start: int, stop: int,
                results: list[Exception | None]) -> None:
    """Inside a transaction: ``units[start:stop]`` grouped in a savepoint (one unit: its
    statements in its order); if that fails, unit by unit."""
    db.execute("SAVEPOINT part")
    try:
        if stop - start == 1:
            for sql, params in units[start]:
                db.execute(sql, params)
        else:
            for sql, rows in _group(units[start:stop]):
                db.executemany(sql, rows)
    except Exception as exc:
        error = unit_error(exc)
        if error is None:
            raise  # the database itself: the whole chunk fails
        db.execute("ROLLBACK TO part")
        db.execute("RELEASE part")
        if stop - start == 1:
            results[start] = error
        else:
            for index in range(start, stop):
                _write_part(db, units, index, index + 1, results)
        return
    db.execute("RELEASE part")


def _expected_failures(db: sqlite3.Connection, claims: Sequence[Claim]) -> set[int]:
    """The units that, written one by one in order, would store credentials another device
    holds by then (held before the chunk, or stored by an earlier unit of it): one query
    for the holders, then the chunk played through in memory. Only a guide for splitting
    the replay: every unit is still written, and the database decides."""
    wanted = sorted({takes for takes, _, _ in claims if takes is not None})
    holder: dict[str, Any] = {}
    for start in range(0, len(wanted), 30_000):  # below SQLite's limit of parameters
        part = wanted[start:start + 30_000]
        sql = (f'SELECT "credentials_id", "device_id" FROM "device_credentials" '
               f'WHERE "credentials_id" IN ({", ".join("?" * len(part))})')
        holder.update((row[0], row[1]) for row in db.execute(sql, part).fetchall())
    failing = set()
    for index, (takes, gives_up, device_id) in enumerate(claims):
        if takes is None:
            continue
        device = str(device_id)
        if holder.get(takes, device) != device:
            failing.add(index)
            continue
        if gives_up is not None and holder.get(gives_up) == device:
            del holder[gives_up]
        holder[takes] = device
    return failing


async def write_units(storage: Any, units: Sequence[Unit],
                      claims: Sequence[Claim] | None = None) -> list[Exception | None]:
    """Commit ``units`` (each atomic on its own) in one transaction on the storage's SQLite
    connection, in one hop to its thread; per unit, None or its error (IntegrityError /
    BadRequest as the group writer gives them). ``claims``: per unit, the credentials it
    stores and gives up and its device (see :func:`write_units_sync`). Commit observers
    are told, as for a writer batch."""
    if not units:
        return []
    started = time.monotonic()
    client = storage.connection()
    async with client.acquire_connection() as conn:
        # As the group writer does (core/storage/writes.py, checked at its start): one hop
        # to aiosqlite's thread for the whole chunk.
        results = await conn._execute(write_units_sync, conn._conn, units, claims)
    observe_commit(storage.commit_observers, len(units), started)
    return results


async def existing_devices(storage: Any, tenant_id: Any, names: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """Name -> (id, credentials id or None) of the tenant's devices among ``names``, in one
    query (SQLite)."""
    if not names:
        return {}
    sql = ('SELECT d."name", d."id", c."credentials_id" FROM "device" d '
           'LEFT JOIN "device_credentials" c ON c."device_id" = d."id" '
           f'WHERE d."tenant_id" = ? AND d."name" IN ({", ".join("?" * len(names))})')
    params = [str(tenant_id), *names]

    def read(db: sqlite3.Connection) -> dict[str, tuple[str, str | None]]:
        return {row[0]: (row[1], row[2]) for row in db.execute(sql, params).fetchall()}
    async with storage.connection().acquire_connection() as conn:
        return await conn._execute(read, conn._conn)


def in_file_order(claims: Sequence[Claim]) -> bool:
    """Whether grouping a chunk's units (deletes first, see :func:`_group`) gives what
    writing them one by one in order would. ``claims``: per unit, the credentials id it
    stores and the one it gives up (an existing device's, replaced), or None. The one
    case it does not: a unit wants credentials that a *later* unit's device gives up
    (one by one, the earlier unit fails; grouped, the delete runs first and it wins)."""
    given_up_later: set[str] = set()
    for takes, gives_up, _ in reversed(claims):
        if takes is not None and takes in given_up_later:
            return False
        if gives_up is not None:
            given_up_later.add(gives_up)
    return True
