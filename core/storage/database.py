"""Opens the database (SQLite in WAL mode by default, PostgreSQL by URL), creates and
upgrades the schema, and hands out transactions.

Tortoise keeps its connections in a context; the hub's is installed as the process-wide
fallback so that every task (aiohttp handlers, broker callbacks) sees it. That makes one
open hub per process the rule, which the storage enforces.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext, get_current_context
from tortoise.transactions import in_transaction

from gridlinks.core.errors import ServiceUnavailable, StartupError
from gridlinks.core.storage.checkpoint import WalCheckpointer
from gridlinks.core.storage.migrations import MIGRATIONS, Migration
from gridlinks.core.storage.writes import CommitObserver, Op, PostgresUnitWriter, SqliteGroupWriter

log = logging.getLogger(__name__)

CORE_MODELS = "gridlinks.core.storage.models"
# The database holds provisioning secrets, device tokens and MQTT passwords in clear:
# only the hub's own user may read it, its WAL/SHM files and its backups.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
WAL_CHECKPOINT_PAGES = 16_384  # the WAL starts over past this many pages (core/storage/checkpoint.py)


def owner_only(path: Path, mode: int = PRIVATE_FILE_MODE) -> None:
    """Take group and other permissions off an existing ``path`` (one created by an older
    hub, or by a tool with a looser umask). A path we may not chmod only gets a warning."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
        if current & ~mode:
            path.chmod(current & mode)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("cannot make %s owner-only (%s); other users may read it", path, exc)


def private_dir(path: Path) -> Path:
    """``path`` as a directory only its owner can enter (0700), created if missing."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    owner_only(path, PRIVATE_DIR_MODE)
    return path


def create_private_file(path: Path) -> None:
    """Create ``path`` empty and 0600 unless it exists, so that what is written into it
    later (by SQLite, say) never sits in a file others can read, not even for a moment."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        owner_only(path)


class Storage:
    def __init__(self, url: str, model_modules: Sequence[str] = (), sqlite_synchronous: str = "NORMAL",
                 migrations: Sequence[Migration] = MIGRATIONS, sqlite_cache_mb: int = 64):
        self.url = url
        self.use_models(model_modules)
        self.sqlite_synchronous = sqlite_synchronous
        self.sqlite_cache_mb = sqlite_cache_mb
        self.migrations = migrations
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgres"
        self._ctx: TortoiseContext | None = None
        self.writer: SqliteGroupWriter | PostgresUnitWriter | None = None
        self.checkpointer: WalCheckpointer | None = None
        # Told of every commit (units, seconds), whenever added: the metrics plugin's hook.
        self.commit_observers: list[CommitObserver] = []

    def use_models(self, model_modules: Sequence[str]) -> None:
        """The model modules to open with (the core's always come first). The hub builds
        its storage before plugins are loaded and gives it their models before ``open``."""
        self.model_modules = [CORE_MODELS, *[m for m in model_modules if m != CORE_MODELS]]

    @property
    def sqlite_path(self) -> Path | None:
        if self.dialect != "sqlite":
            return None
        return Path(self.url.split("://", 1)[1].split("?", 1)[0])

    @property
    def _sqlite_file(self) -> Path | None:
        """The database file, if there is one on disk (not ``:memory:``)."""
        path = self.sqlite_path
        return None if path is None or path.name == ":memory:" else path

    def _connection_config(self) -> dict | str:
        if self.dialect == "sqlite":
            path = self.sqlite_path
            assert path is not None
            path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
            if self._sqlite_file is not None:
                # SQLite gives its -wal and -shm files the database file's mode.
                create_private_file(path)
                self._tighten_sqlite_files()
            return {
                "engine": "tortoise.backends.sqlite",
                "credentials": {
                    "file_path": str(path),
                    # WAL + NORMAL: a commit survives a process crash; an OS crash or
                    # power loss may lose the last transactions but never corrupts the file.
                    "journal_mode": "WAL",
                    "synchronous": self.sqlite_synchronous,
                    "foreign_keys": "ON",
                    "busy_timeout": 10000,
                    # Negative = KiB. SQLite's default (2 MB) keeps too little of the unique
                    # indexes (device name, token, attribute key) in memory once a site
                    # holds a million devices, and every provisioning walks all three.
                    "cache_size": -1024 * self.sqlite_cache_mb,
                    # No commit checkpoints the WAL: the WalCheckpointer does, on its own
                    # connection and thread (core/storage/checkpoint.py), and lets the log
                    # grow to 64 MB (16,384 pages) before it starts over, not SQLite's 4 MB;
                    # the file is kept at that size instead of Tortoise's 16 KB. Small logs
                    # were checkpointed (two fsyncs each) and truncated a few times a second
                    # inside commits. Measured (bench/analysis.md): -30 % SQLite CPU and
                    # -60 % time per provisioning. Durability is unchanged.
                    "wal_autocheckpoint": 0,
                    "journal_size_limit": WAL_CHECKPOINT_PAGES * 4096,
                },
            }
        parsed = urlparse(self.url)
        if parsed.scheme not in ("postgres", "postgresql", "asyncpg"):
            raise StartupError(f"unsupported database URL scheme {parsed.scheme!r} (use sqlite:// or postgres://)")
        return self.url.replace("postgresql://", "postgres://", 1)

    async def open(self) -> None:
        if get_current_context() is not None:
            raise StartupError("another hub's storage is open in this process; close it first")
        # Tortoise caches compiled INSERTs per connection *name*, not per backend; a
        # process that opened SQLite and then PostgreSQL (tests, migrations tooling)
        # would reuse SQLite's "?" placeholders. One hub per process: start clean.
        EXECUTOR_CACHE.clear()
        ctx = TortoiseContext()
        ctx.__enter__()
        config = {
            "connections": {"default": self._connection_config()},
            "apps": {"models": {"models": self.model_modules, "default_connection": "default"}},
        }
        try:
            await ctx.init(config=config, _enable_global_fallback=True)
        except Exception as exc:
            ctx.__exit__(None, None, None)
            raise StartupError(f"cannot open database {self.safe_url}: {exc}") from exc
        self._ctx = ctx
        self._tighten_sqlite_files()
        try:
            await self._migrate()
        except Exception:
            await self.close()
            raise
        client = self.connection()
        writer = SqliteGroupWriter if self.dialect == "sqlite" else PostgresUnitWriter
        self.writer = writer(client, self.commit_observers)
        self.writer.start()
        if self._sqlite_file is not None:
            self.checkpointer = WalCheckpointer(self._sqlite_file, WAL_CHECKPOINT_PAGES, self.writer.finish_log,
                                                self.sqlite_synchronous)
            self.checkpointer.start()

    def submit(self, ops: Sequence[Op]) -> asyncio.Future:
        """Queue ``ops`` without waiting; the returned future resolves at commit. For a
        stream whose sender is not waiting for each commit (MQTT telemetry)."""
        return self._writer().submit(ops)

    def _writer(self) -> SqliteGroupWriter | PostgresUnitWriter:
        if self.writer is None:
            raise ServiceUnavailable("storage is not open")
        return self.writer

    def health(self) -> dict:
        """``{"ok": bool, "reason": ...}`` for the write path (see WriterHealth)."""
        if self.writer is None:
            return {"ok": False, "reason": "storage is not open"}
        return self.writer.health()

    async def write(self, ops: Sequence[Op]) -> None:
        """Commit ``ops`` atomically (group commit, see :mod:`gridlinks.core.storage.writes`);
        returns once they are durable, raises IntegrityError if they break a constraint."""
        await self._writer().write(ops)

    @property
    def safe_url(self) -> str:
        """The URL without its password, for logs and errors."""
        parsed = urlparse(self.url)
        if parsed.password:
            return self.url.replace(f":{parsed.password}@", ":***@")
        return self.url

    async def close(self) -> None:
        if self.writer is not None:
            await self.writer.close()
            self.writer = None
        if self.checkpointer is not None:
            await self.checkpointer.close()
            self.checkpointer = None
        if self._ctx is not None:
            await self._ctx.close_connections()
            try:
                self._ctx.__exit__(None, None, None)
            except ValueError:
                pass  # closed from another task than the one that opened it
            self._ctx = None

    def _tighten_sqlite_files(self) -> None:
        path = self._sqlite_file
        if path is not None:
            for candidate in (path, *(path.with_name(path.name + suffix) for suffix in SQLITE_SIDE_FILES)):
                owner_only(candidate)

    def connection(self):
        assert self._ctx is not None, "storage is not open"
        return self._ctx.connections.get("default")

    def transaction(self):
        """``async with storage.transaction():`` - all writes inside commit or none do."""
        return in_transaction("default")

    async def _table_exists(self, name: str) -> bool:
        conn = self.connection()
        if self.dialect == "sqlite":
            rows = await conn.execute_query_dict(
                "SELECT name FROM sqlite_master WHERE type='table' AND name=?", [name])
        else:
            rows = await conn.execute_query_dict(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename = $1", [name])
        return bool(rows)

    async def _migrate(self) -> None:
        from gridlinks.core.storage.models import SchemaVersion

        assert self._ctx is not None
        fresh = not await self._table_exists("schema_version")
        if fresh:
            await self._ctx.generate_schemas(safe=True)
            for m in self.migrations:
                await SchemaVersion.get_or_create(version=m.version, defaults={"name": m.name})
            return
        applied = set(await SchemaVersion.all().values_list("version", flat=True))
        pending = [m for m in sorted(self.migrations, key=lambda m: m.version) if m.version not in applied]
        if pending:
            self._backup_sqlite(max(applied, default=0))
        for m in pending:
            log.info("applying schema migration %d: %s", m.version, m.name)
            async with self.transaction() as conn:
                await m.apply(conn, self.dialect)
                await SchemaVersion.create(version=m.version, name=m.name, using_db=conn)
        await self._ctx.generate_schemas(safe=True)

    def _backup_sqlite(self, from_version: int) -> None:
        path = self.sqlite_path
        if path is None or not path.exists():
            return
        backups = private_dir(path.parent / "backups")
        target = backups / f"{path.stem}.v{from_version}.{time.strftime('%Y%m%d%H%M%S')}.db"
        create_private_file(target)
        src = sqlite3.connect(str(path))
        try:
            dst = sqlite3.connect(str(target))
            with dst:
                src.backup(dst)
            dst.close()
        finally:
            src.close()
        log.info("backed up %s to %s before migrating", path, target)
