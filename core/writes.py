"""Group commit: the one write path for everything devices cause (provisioning, telemetry,
attributes, audit rows, bulk import lines).

A caller describes its writes as a *unit* - a list of :class:`Insert`, :class:`Upsert`,
:class:`Update`, :class:`Delete` - and awaits ``writer.write(unit)``. The unit is atomic:
it commits whole or not at all, and the call returns only after the commit (so a device
is never told "SUCCESS" for credentials that could still be lost to a hub crash).

Why: through the ORM every statement is a separate hop to the SQLite thread plus query
building; one provisioning took ~8 hops and the single connection serialised them all
(~330 provisions/s). Here, on SQLite, all units that arrive while a batch is being
written share the next transaction, and each statement shape runs once per batch as
``executemany`` (one hop per table, not per row). If any row of a batch breaks a
constraint, the batch is rolled back and its units are replayed one by one, each in a
savepoint, so a failing unit fails alone with its own IntegrityError and the others
still commit. On PostgreSQL, which has real concurrent connections, each unit simply
runs in its own transaction on a pooled connection.

The SQL is generated from the Tortoise models' metadata, so the ORM remains the one
description of the schema.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Sequence

from tortoise.exceptions import IntegrityError
from tortoise.models import Model

from gridlinks.core.errors import BadRequest

log = logging.getLogger(__name__)

MAX_BATCH_UNITS = 1024


@dataclass(frozen=True)
class Insert:
    model: type[Model]
    values: dict[str, Any]


@dataclass(frozen=True)
class Upsert:
    """Insert, or on a clash of ``conflict`` fields update ``update`` fields - only when
    ``newer`` (a field name) is not older than the stored row's, if given."""

    model: type[Model]
    values: dict[str, Any]
    conflict: tuple[str, ...]
    update: tuple[str, ...]
    newer: str | None = None


@dataclass(frozen=True)
class Update:
    model: type[Model]
    values: dict[str, Any]
    where: dict[str, Any]


@dataclass(frozen=True)
class Delete:
    model: type[Model]
    where: dict[str, Any]


Op = Insert | Upsert | Update | Delete


def _column(model: type[Model], name: str) -> str:
    return model._meta.fields_db_projection[name]


_CONVERTERS: dict[tuple[type[Model], str], Any] = {}


def _converter(model: type[Model], name: str):
    """A fast to-database conversion for one field, equivalent to Tortoise's
    ``to_db_value`` for the field types the hot paths write (which validates on every
    call and cost a quarter of a provisioning request). Over-long strings are refused
    here, as the ORM would: SQLite would otherwise store them silently."""
    f = model._meta.fields_map[name]
    kind = type(f).__name__
    if kind == "UUIDField":
        return lambda v: None if v is None else str(v)
    if kind == "JSONField":
        return lambda v: None if v is None else _JSON(v)
    max_length = getattr(f, "max_length", None)
    if kind == "CharField" and max_length:
        label = f"{model._meta.db_table.replace('_', ' ')} {name.replace('_', ' ')}"

        def char(v: Any, _label=label, _max=max_length) -> Any:
            if v is not None and len(v) > _max:
                raise BadRequest(f"{_label} is longer than {_max} characters")
            return v
        return char
    if kind in ("TextField", "BigIntField", "IntField", "BooleanField", "SmallIntField"):
        return lambda v: v
    return lambda v, _f=f, _m=model: _f.to_db_value(v, _m)


def _JSON(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _db_value(model: type[Model], name: str, value: Any) -> Any:
    convert = _CONVERTERS.get((model, name))
    if convert is None:
        convert = _CONVERTERS[(model, name)] = _converter(model, name)
    return convert(value)


_DEFAULTS: dict[type[Model], list[tuple[str, Any, bool]]] = {}


def _defaults_of(model: type[Model]) -> list[tuple[str, Any, bool]]:
    """(field, default, is_callable) for every column ``Model.create`` would fill in."""
    found = _DEFAULTS.get(model)
    if found is None:
        found = []
        for name in model._meta.fields_db_projection:
            f = model._meta.fields_map[name]
            if f.pk and f.generated:
                continue
            if callable(f.default) or f.default is not None or f.null:
                found.append((name, f.default, callable(f.default)))
        _DEFAULTS[model] = found
    return found


def with_defaults(model: type[Model], values: dict[str, Any]) -> dict[str, Any]:
    """``values`` plus the model's defaults for every other column (what ``Model.create``
    would fill in), so each Insert of a model has the same statement shape."""
    out = dict(values)
    for name, default, is_callable in _defaults_of(model):
        if name not in out:
            out[name] = default() if is_callable else default
    return out


@dataclass
class _Statement:
    sql: str
    params: list[Any]
    shape: tuple  # statements with equal shapes run together in one executemany


def _placeholders(dialect: str, start: int, count: int) -> list[str]:
    if dialect == "sqlite":
        return ["?"] * count
    return [f"${i}" for i in range(start, start + count)]


def compile_op(op: Op, dialect: str) -> _Statement:
    """SQL for one operation in the given dialect (``?`` or ``$n`` placeholders)."""
    m = op.model
    if isinstance(op, (Insert, Upsert)):
        values = with_defaults(m, op.values)
        names = tuple(values)
        sql = _sql(op, dialect, names)
        return _Statement(sql, [_db_value(m, n, values[n]) for n in names], (sql,))
    where_names = tuple(op.where)
    if isinstance(op, Update):
        set_names = tuple(op.values)
        sql = _sql(op, dialect, set_names + where_names, len(set_names))
        params = [_db_value(m, n, op.values[n]) for n in set_names] + [_db_value(m, n, op.where[n]) for n in where_names]
        return _Statement(sql, params, (sql,))
    sql = _sql(op, dialect, where_names)
    return _Statement(sql, [_db_value(m, n, op.where[n]) for n in where_names], (sql,))


_SQL_CACHE: dict[tuple, str] = {}


def _sql(op: Op, dialect: str, names: tuple[str, ...], split: int = 0) -> str:
    """The statement text for this kind of op over these fields, built once and cached
    (the hot paths repeat a handful of shapes millions of times)."""
    key = (type(op), op.model, dialect, names, split, getattr(op, "conflict", None), getattr(op, "update", None),
           getattr(op, "newer", None))
    sql = _SQL_CACHE.get(key)
    if sql is None:
        sql = _SQL_CACHE[key] = _build_sql(op, dialect, names, split)
    return sql


def _build_sql(op: Op, dialect: str, names: tuple[str, ...], split: int) -> str:
    m = op.model
    table = f'"{m._meta.db_table}"'
    marks = _placeholders(dialect, 1, len(names))
    if isinstance(op, (Insert, Upsert)):
        cols = ", ".join(f'"{_column(m, n)}"' for n in names)
        sql = f"INSERT INTO {table} ({cols}) VALUES ({', '.join(marks)})"
        if isinstance(op, Upsert):
            conflict = ", ".join(f'"{_column(m, n)}"' for n in op.conflict)
            sets = ", ".join(f'"{_column(m, n)}" = excluded."{_column(m, n)}"' for n in op.update)
            sql += f" ON CONFLICT ({conflict}) DO UPDATE SET {sets}"
            if op.newer:
                col = _column(m, op.newer)
                sql += f' WHERE excluded."{col}" >= {table}."{col}"'
        return sql
    if isinstance(op, Update):
        sets = ", ".join(f'"{_column(m, n)}" = {p}' for n, p in zip(names[:split], marks))
        where = " AND ".join(f'"{_column(m, n)}" = {p}' for n, p in zip(names[split:], marks[split:]))
        return f"UPDATE {table} SET {sets} WHERE {where}"
    where = " AND ".join(f'"{_column(m, n)}" = {p}' for n, p in zip(names, marks))
    return f"DELETE FROM {table} WHERE {where}"


@dataclass
class _Pending:
    statements: list[_Statement]
    future: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class SqliteGroupWriter:
    """Batches units from every task into shared transactions on Tortoise's own SQLite
    connection (holding its lock, so ORM transactions never interleave with a batch)."""

    def __init__(self, client: Any):
        self._client = client
        self._queue: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.batches = 0
        self.units = 0

    def start(self) -> None:
        from aiosqlite import Connection

        if not (hasattr(Connection, "_execute") and hasattr(Connection, "_conn")):
            raise RuntimeError("this aiosqlite release lacks Connection._execute/_conn, which the group "
                               "writer runs its batches through; pin aiosqlite to a release that has them")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="gridlinks-group-writer")

    async def close(self) -> None:
        if self._task is not None:
            while self._queue:  # finish what was accepted: no silent loss on shutdown
                await asyncio.sleep(0.001)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
            if self.batches:
                log.info("group commit: %d units in %d transactions (%.1f per transaction)",
                         self.units, self.batches, self.units / self.batches)

    def submit(self, ops: Sequence[Op]) -> asyncio.Future:
        """Queue a unit; the future resolves once it is committed. Units commit in the
        order they were submitted."""
        if self._task is None:
            raise RuntimeError("storage writer is not running")
        pending = _Pending([compile_op(op, "sqlite") for op in ops])
        self._queue.append(pending)
        self._wakeup.set()
        return pending.future

    async def write(self, ops: Sequence[Op]) -> None:
        if ops:
            await self.submit(ops)

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH_UNITS], self._queue[MAX_BATCH_UNITS:]
                try:
                    results = await self._write_batch(batch)
                except Exception as exc:  # the database itself failed: every unit learns it
                    log.exception("group commit of %d units failed", len(batch))
                    results = [exc] * len(batch)
                self.batches += 1
                self.units += len(batch)
                for pending, result in zip(batch, results):
                    if pending.future.done():
                        continue
                    if result is None:
                        pending.future.set_result(None)
                    else:
                        pending.future.set_exception(result)

    async def _write_batch(self, batch: list[_Pending]) -> list[Exception | None]:
        groups = _group_by_shape(batch)
        units = [p.statements for p in batch]
        async with self._client.acquire_connection() as conn:
            # One hop to the SQLite thread for the whole batch, not one per statement:
            # each hop waits for an event-loop turn, and a busy loop made a six-hop batch
            # take milliseconds. aiosqlite has no public "run this function in your
            # thread"; ``_execute`` and ``_conn`` are what its own methods use. This is
            # the one place the hub reaches into aiosqlite (checked at start, see start()).
            return await conn._execute(lambda: write_batch_sync(conn._conn, groups, units))


def write_batch_sync(db: sqlite3.Connection, groups, units) -> list[Exception | None]:
    """Run in the SQLite thread: the whole batch in one transaction, each statement shape
    as one executemany. If a row breaks a constraint, roll back and replay unit by unit,
    each in a savepoint, so only the offending units fail."""
    try:
        db.execute("BEGIN IMMEDIATE")
        for sql, rows in groups:
            db.executemany(sql, rows)
        db.execute("COMMIT")
        return [None] * len(units)
    except sqlite3.IntegrityError:
        db.execute("ROLLBACK")
    results: list[Exception | None] = []
    db.execute("BEGIN IMMEDIATE")
    try:
        for statements in units:
            db.execute("SAVEPOINT unit")
            try:
                for st in statements:
                    db.execute(st.sql, st.params)
            except sqlite3.IntegrityError as exc:
                db.execute("ROLLBACK TO unit")
                results.append(IntegrityError(str(exc)))
            else:
                results.append(None)
            db.execute("RELEASE unit")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return results


def _group_by_shape(batch: list[_Pending]) -> list[tuple[str, list[list[Any]]]]:
    """Statements of the batch grouped by SQL, keeping the order in which each shape
    first appears (so parents are inserted before the rows that point at them)."""
    groups: dict[tuple, tuple[str, list[list[Any]]]] = {}
    for pending in batch:
        for st in pending.statements:
            group = groups.get(st.shape)
            if group is None:
                groups[st.shape] = group = (st.sql, [])
            group[1].append(st.params)
    return list(groups.values())


class PostgresUnitWriter:
    """One transaction per unit on a pooled connection: PostgreSQL runs them concurrently."""

    def __init__(self, client: Any):
        self._client = client
        self._last: asyncio.Future | None = None

    def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def submit(self, ops: Sequence[Op]) -> asyncio.Future:
        """Start the unit now; the future resolves once it is committed. Units of one
        caller commit in order: each waits for the one submitted before it."""
        previous = self._last
        self._last = asyncio.ensure_future(self._write_after(previous, ops))
        return self._last

    async def _write_after(self, previous: asyncio.Future | None, ops: Sequence[Op]) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        await self.write(ops)

    async def write(self, ops: Sequence[Op]) -> None:
        if not ops:
            return
        import asyncpg

        statements = [compile_op(op, "postgres") for op in ops]
        async with self._client.acquire_connection() as conn:
            try:
                async with conn.transaction():
                    for st in statements:
                        await conn.execute(st.sql, *st.params)
            except asyncpg.IntegrityConstraintViolationError as exc:
                raise IntegrityError(str(exc)) from None
