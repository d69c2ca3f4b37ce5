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

No single unit can stop the writer: whatever a batch raises (a constraint, a value the
database cannot store such as an integer past 64 bits or a lone UTF-16 surrogate, or
anything else), the transaction is rolled back and the batch replayed without the
offending units, which alone get the error (:class:`~gridlinks.core.errors.BadRequest`
for a value, IntegrityError for a constraint). The connection is never left inside a
transaction. Only a failure of the database itself (disk full, I/O error) fails a whole
batch; the writer then reports itself unhealthy (:meth:`SqliteGroupWriter.health`, shown
by ``/api/health``) until a batch commits again.

The SQL is generated from the Tortoise models' metadata, so the ORM remains the one
description of the schema.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.models import Model

from gridlinks.core.errors import BadRequest, HubError

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
    """Set ``values`` on the rows matching ``where`` (equality) and whose ``where_null``
    fields are NULL. ``guard``: the whole unit fails with :class:`NoRowMatched` (and
    commits nothing) if this update changes no row - a conditional write that settles a
    race in the database, such as two claims of one device."""

    model: type[Model]
    values: dict[str, Any]
    where: dict[str, Any]
    where_null: tuple[str, ...] = ()
    guard: bool = False


@dataclass(frozen=True)
class Delete:
    model: type[Model]
    where: dict[str, Any]


Op = Insert | Upsert | Update | Delete


class NoRowMatched(Exception):
    """A guarded :class:`Update` changed no row, so its unit was rolled back."""


class ConstraintViolation(IntegrityError):
    """A unit broke a constraint of the schema; says which, as data rather than text:
    ``kind`` (``"unique"``, ``"not null"``, ``"foreign key"``, ``"check"``, or None if
    unknown), ``table``, ``columns`` (sorted column names, empty if the database did not say) and
    ``constraint`` (the database's name for it where it has one: PostgreSQL's constraint
    name; SQLite names only the columns). Still a Tortoise ``IntegrityError``, so code
    that catches those keeps working. Map it to a domain error with
    :func:`gridlinks.core.services.conflicts.conflict_message`, never by its message."""

    def __init__(self, message: str, kind: str | None = None, table: str | None = None,
                 columns: Sequence[str] = (), constraint: str | None = None):
        super().__init__(message)
        self.kind = kind
        self.table = table
        self.columns = tuple(sorted(columns))
        self.constraint = constraint


def sqlite_violation(exc: sqlite3.IntegrityError) -> ConstraintViolation:
    """SQLite says ``UNIQUE constraint failed: device.tenant_id, device.name`` (also for
    NOT NULL and CHECK); a foreign key failure names nothing."""
    message = str(exc)
    head, _, named = message.partition(" constraint failed")
    named = named.removeprefix(": ")
    table, columns = None, []
    for item in filter(None, (part.strip() for part in named.split(","))):
        owner, _, column = item.rpartition(".")
        table = owner or table
        columns.append(column)
    return ConstraintViolation(message, head.lower() or None, table, columns)


def postgres_violation(exc: Any) -> ConstraintViolation:
    """asyncpg's error carries the constraint and table names; the columns of a unique
    violation are in its detail (``Key (tenant_id, name)=(...) already exists.``)."""
    detail = getattr(exc, "detail", None) or ""
    columns: list[str] = []
    if detail.startswith("Key (") and ")=(" in detail:
        columns = [c.strip().strip('"') for c in detail[len("Key ("):detail.index(")=(")].split(",")]
    column = getattr(exc, "column_name", None)
    if not columns and column:
        columns = [column]
    return ConstraintViolation(str(exc), _POSTGRES_KINDS.get(getattr(exc, "sqlstate", None) or ""),
                               getattr(exc, "table_name", None), columns, getattr(exc, "constraint_name", None))


# SQLSTATE class 23 (integrity constraint violation), as PostgreSQL reports it.
_POSTGRES_KINDS = {"23505": "unique", "23502": "not null", "23503": "foreign key", "23514": "check"}


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
        return _as_is
    return lambda v, _f=f, _m=model: _f.to_db_value(v, _m)


def _as_is(value: Any) -> Any:
    """The converter of fields the driver takes as they are (row plans skip calling it)."""
    return value


# One encoder, built once: ``json.dumps`` with any non-default argument builds a new
# JSONEncoder per call, which cost more than the encoding on the telemetry path.
_JSON = json.JSONEncoder(separators=(",", ":")).encode


def _converter_of(model: type[Model], name: str) -> Any:
    convert = _CONVERTERS.get((model, name))
    if convert is None:
        convert = _CONVERTERS[(model, name)] = _converter(model, name)
    return convert


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


@dataclass
class _Statement:
    sql: str
    params: list[Any]
    shape: tuple  # statements with equal shapes run together in one executemany
    guard: bool = False  # the unit fails (NoRowMatched) if this statement changes no row
    # An insert (or upsert) may run before or after other units' statements of another
    # shape: if that mattered, a constraint fails and the batch is replayed in order.
    # An update or a delete may not: run early, it could change or remove rows a later
    # unit of the batch writes (a device's attributes deleted by a RESET re-provisioning
    # *after* a telemetry unit queued behind it stored its values), silently.
    reorderable: bool = True


def _placeholders(dialect: str, start: int, count: int) -> list[str]:
    if dialect == "sqlite":
        return ["?"] * count
    return [f"${i}" for i in range(start, start + count)]


def compile_op(op: Op, dialect: str) -> _Statement:
    """SQL for one operation in the given dialect (``?`` or ``$n`` placeholders)."""
    if isinstance(op, (Insert, Upsert)):
        plan = _row_plan(op, dialect)
        params = [value if convert is None else convert(value)
                  for convert, value in zip(plan.converters, op.values.values())]
        params += plan.constants
        for convert, make in plan.computed:
            params.append(convert(make()))
        return _Statement(plan.sql, params, plan.shape)
    where = op.where
    if isinstance(op, Update):
        sql, converters = _shape(op, dialect, tuple(op.values) + tuple(where), len(op.values))
        given = [*op.values.values(), *where.values()]
        return _Statement(sql, [c(v) for c, v in zip(converters, given)], (sql,), op.guard, reorderable=False)
    sql, converters = _shape(op, dialect, tuple(where))
    return _Statement(sql, [c(v) for c, v in zip(converters, where.values())], (sql,), reorderable=False)


@dataclass(frozen=True)
class _RowPlan:
    """How an Insert/Upsert of one set of fields becomes parameters, worked out once per
    statement shape: the given values converted (``None``: passed as they are), then the
    model's constant defaults already converted, then its computed defaults (a clock)."""

    sql: str
    shape: tuple
    converters: tuple[Any, ...]
    constants: tuple[Any, ...]
    computed: tuple[tuple[Any, Any], ...]  # (converter, default factory)


_ROW_PLANS: dict[tuple, _RowPlan] = {}
_EMPTY_CONTAINERS = (dict, list)


def _row_plan(op: Insert | Upsert, dialect: str) -> _RowPlan:
    """The cached plan for this op's model, fields and conflict clause. Every column
    ``Model.create`` would fill in is filled, so each Insert of a model has one shape."""
    key: tuple = (op.model, dialect, tuple(op.values))
    if type(op) is Upsert:  # an Insert has no conflict clause (and getattr misses cost)
        key += (op.conflict, op.update, op.newer)
    plan = _ROW_PLANS.get(key)
    if plan is None:
        given = tuple(op.values)
        defaults = [(name, default, is_callable) for name, default, is_callable in _defaults_of(op.model)
                    if name not in op.values]
        # ``default=dict`` makes a new dict per row, but its stored text is always "{}".
        constant = [(name, default() if is_callable else default) for name, default, is_callable in defaults
                    if not is_callable or default in _EMPTY_CONTAINERS]
        computed = [(name, default) for name, default, is_callable in defaults
                    if is_callable and default not in _EMPTY_CONTAINERS]
        names = given + tuple(name for name, _ in constant) + tuple(name for name, _ in computed)
        sql, converters = _shape(op, dialect, names)
        converted = list(converters)
        plan = _ROW_PLANS[key] = _RowPlan(
            sql, (sql,), tuple(None if c is _as_is else c for c in converted[:len(given)]),
            tuple(c(d) for c, (_, d) in zip(converted[len(given):], constant)),
            tuple((c, d) for c, (_, d) in zip(converted[len(given) + len(constant):], computed)))
    return plan


_SHAPES: dict[tuple, tuple[str, tuple[Any, ...]]] = {}


def _shape(op: Op, dialect: str, names: tuple[str, ...], split: int = 0) -> tuple[str, tuple[Any, ...]]:
    """The statement text for this kind of op over these fields, and the converter of each
    parameter, built once and cached (the hot paths repeat a handful of shapes millions
    of times, so per-parameter look-ups add up)."""
    key: tuple = (type(op), op.model, dialect, names, split)
    if isinstance(op, Upsert):
        key += (op.conflict, op.update, op.newer)
    elif isinstance(op, Update):
        key += (op.where_null,)
    shape = _SHAPES.get(key)
    if shape is None:
        shape = _SHAPES[key] = (_build_sql(op, dialect, names, split),
                                tuple(_converter_of(op.model, n) for n in names))
    return shape


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
        where = " AND ".join([*(f'"{_column(m, n)}" = {p}' for n, p in zip(names[split:], marks[split:])),
                              *(f'"{_column(m, n)}" IS NULL' for n in op.where_null)])
        return f"UPDATE {table} SET {sets} WHERE {where}"
    where = " AND ".join(f'"{_column(m, n)}" = {p}' for n, p in zip(names, marks))
    return f"DELETE FROM {table} WHERE {where}"


@dataclass
class _Pending:
    statements: list[_Statement]
    future: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    queued_at: float = field(default_factory=time.monotonic)


STALL_S = 10.0

# Told of every commit: (units in the transaction, seconds it took). Called on the event
# loop right after the commit; must be quick and must not raise (metrics, not logic).
CommitObserver = Callable[[int, float], None]


def observe_commit(observers: Sequence[CommitObserver], units: int, started: float) -> None:
    elapsed = time.monotonic() - started
    for observer in observers:
        try:
            observer(units, elapsed)
        except Exception as exc:  # an observer's bug must never fail a write
            log.warning("commit observer %r failed: %s", observer, exc)


class WriterHealth:
    """What ``/api/health`` says about the write path: a hub whose writer cannot commit
    must not look UP (a load balancer would keep sending it devices)."""

    def __init__(self) -> None:
        self.last_error: str | None = None
        self.failing_since: float | None = None
        self.last_commit = time.monotonic()

    def committed(self) -> None:
        if self.failing_since is not None:
            log.warning("group commit: the database accepts commits again")
        self.last_error = None
        self.failing_since = None
        self.last_commit = time.monotonic()

    def failed(self, exc: BaseException, units: int) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        if self.failing_since is None:
            self.failing_since = time.monotonic()
        # One line, no traceback: the cause is the database, and the message says it.
        log.error("group commit of %d units failed: %s", units, self.last_error)

    def report(self, oldest_queued_at: float | None) -> dict[str, Any]:
        now = time.monotonic()
        if self.failing_since is not None:
            return {"ok": False, "reason": f"database refuses commits: {self.last_error}",
                    "since_s": round(now - self.failing_since, 1)}
        if oldest_queued_at is not None and now - oldest_queued_at > STALL_S:
            return {"ok": False, "reason": "writes are waiting without a commit",
                    "waiting_s": round(now - oldest_queued_at, 1)}
        return {"ok": True}


class SqliteGroupWriter:
    """Batches units from every task into shared transactions on Tortoise's own SQLite
    connection (holding its lock, so ORM transactions never interleave with a batch)."""

    def __init__(self, client: Any, observers: Sequence[CommitObserver] = ()):
        self._client = client
        self.observers = observers
        self._queue: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.batches = 0
        self.units = 0
        self.health_state = WriterHealth()
        self._finish_log = False

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
                started = time.monotonic()
                try:
                    results = await self._write_batch(batch)
                except Exception as exc:  # the database itself failed: every unit learns it
                    self.health_state.failed(exc, len(batch))
                    results = [exc] * len(batch)
                else:
                    self.health_state.committed()
                    observe_commit(self.observers, len(batch), started)
                self.batches += 1
                self.units += len(batch)
                for pending, result in zip(batch, results):
                    if pending.future.done():
                        continue
                    if result is None:
                        pending.future.set_result(None)
                    else:
                        pending.future.set_exception(result)
                if self._finish_log:
                    self._finish_log = False
                    await self._checkpoint()

    def health(self) -> dict[str, Any]:
        """``{"ok": bool, ...}``: not ok while the database refuses commits, or while
        units wait longer than ``STALL_S`` without a commit (a wedged writer)."""
        oldest = self._queue[0].queued_at if self._queue else None
        return self.health_state.report(oldest)

    def finish_log(self) -> None:
        """Checkpoint the WAL's last frames right after the next commit (its units already
        answered), from this connection, between two batches: then nothing is left to copy
        and the following batch writes the log from its start again. Asked for by the
        :class:`~gridlinks.core.storage.checkpoint.WalCheckpointer` once the log is long;
        done here because only the writer knows a moment when no commit is under way, and
        a checkpoint that waits for one (RESTART) holds up the commits behind it too."""
        self._finish_log = True

    async def _checkpoint(self) -> None:
        try:
            async with self._client.acquire_connection() as conn:
                await conn._execute(lambda: conn._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
        except sqlite3.Error as exc:  # the next pass of the checkpointer tries again
            log.warning("WAL checkpoint after a commit failed: %s", exc)

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


# Errors that belong to one unit's values, not to the database: the unit fails alone.
_VALUE_ERRORS = (OverflowError, UnicodeEncodeError, ValueError, TypeError, sqlite3.InterfaceError,
                 sqlite3.DataError, sqlite3.ProgrammingError)


def unit_error(exc: BaseException) -> Exception | None:
    """The error a unit gets for ``exc``, or ``None`` if ``exc`` is not the unit's fault
    (the database itself failed)."""
    if isinstance(exc, sqlite3.IntegrityError):
        return sqlite_violation(exc)
    if isinstance(exc, NoRowMatched):
        return exc
    if isinstance(exc, _VALUE_ERRORS):
        return BadRequest(f"a value cannot be stored: {_describe(exc)}")
    return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, UnicodeEncodeError):
        return "text with characters that are not valid Unicode (a lone surrogate)"
    if isinstance(exc, OverflowError) or "out of int64 range" in str(exc):
        return "an integer outside the 64-bit range"
    if "Character" in type(exc).__name__:  # asyncpg: a NUL or a lone surrogate in text
        return "text with a character the database cannot store"
    return type(exc).__name__


def rollback(db: sqlite3.Connection) -> None:
    """Leave no transaction open, whatever state the failure left behind."""
    if db.in_transaction:
        db.execute("ROLLBACK")


def write_batch_sync(db: sqlite3.Connection, groups, units) -> list[Exception | None]:
    """Run in the SQLite thread: the whole batch in one transaction, each statement shape
    as one executemany. If anything fails, roll back and replay unit by unit, each in a
    savepoint, so only the offending units fail. Never returns inside a transaction."""
    if db.in_transaction:  # cannot happen through the writer; never build on a stale one
        log.warning("group commit: the connection was inside a transaction; rolled it back")
        rollback(db)
    # Grouping runs each shape's rows together, in the order shapes first appear: safe
    # for inserts (see _Statement.reorderable). A batch holding an update or a delete runs
    # unit by unit: a guarded update must also see its own row count, which executemany
    # sums over units. Provisioning and telemetry are inserts; updates and deletes (claims,
    # re-provisioning, credential changes) are rare.
    if all(st.reorderable for statements in units for st in statements):
        try:
            db.execute("BEGIN IMMEDIATE")
            for sql, rows in groups:
                db.executemany(sql, rows)
            db.execute("COMMIT")
            return [None] * len(units)
        except Exception as exc:
            rollback(db)
            error = unit_error(exc)
            if error is None:
                raise  # the database itself failed: every unit of the batch learns it
            if len(units) == 1:
                return [error]  # nothing to replay: the one unit is the offender
        except BaseException:
            rollback(db)
            raise
    results: list[Exception | None] = []
    try:
        db.execute("BEGIN IMMEDIATE")
        for statements in units:
            db.execute("SAVEPOINT unit")
            try:
                for st in statements:
                    if db.execute(st.sql, st.params).rowcount == 0 and st.guard:
                        raise NoRowMatched(st.sql)
            except Exception as exc:
                error = unit_error(exc)
                if error is None:
                    raise  # the database itself: the whole batch fails (below)
                db.execute("ROLLBACK TO unit")
                results.append(error)
            else:
                results.append(None)
            db.execute("RELEASE unit")
        db.execute("COMMIT")
    except BaseException:
        rollback(db)
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
    """One transaction per unit on a pooled connection: PostgreSQL runs them concurrently.
    asyncpg rolls a transaction back on any exception, so no unit can leave one open."""

    def __init__(self, client: Any, observers: Sequence[CommitObserver] = ()):
        self._client = client
        self.observers = observers
        self._last: asyncio.Future | None = None
        self.health_state = WriterHealth()

    def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def health(self) -> dict[str, Any]:
        return self.health_state.report(None)

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

        started = time.monotonic()
        try:
            statements = [compile_op(op, "postgres") for op in ops]
            async with self._client.acquire_connection() as conn:
                async with conn.transaction():
                    for st in statements:
                        status = await conn.execute(st.sql, *st.params)
                        if st.guard and status.rsplit(" ", 1)[-1] == "0":  # "UPDATE 0"
                            raise NoRowMatched(st.sql)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise postgres_violation(exc) from None
        except (asyncpg.DataError, *_VALUE_ERRORS) as exc:
            # asyncpg refuses what PostgreSQL cannot store (an integer past 64 bits, a
            # lone surrogate, a NUL in text) while encoding the arguments.
            raise BadRequest(f"a value cannot be stored: {_describe(exc)}") from None
        except (HubError, IntegrityError, NoRowMatched):
            raise
        except Exception as exc:
            self.health_state.failed(exc, 1)
            raise
        self.health_state.committed()
        observe_commit(self.observers, 1, started)
