"""``gridlinks backup | restore | doctor``: keeping a site's data safe and telling what is
wrong with an installation, without opening the hub (so nothing here migrates, locks or
changes the database it looks at, restore excepted).

- ``backup FILE``: an online, consistent copy of the SQLite database through SQLite's
  backup API (one read transaction: the hub keeps serving and writing meanwhile), written
  0600 under a temporary name and renamed into place, so FILE is whole or absent.
  PostgreSQL databases are backed up with ``pg_dump``.
- ``restore FILE``: refuses while a hub serves on that database (the node lock, held
  during the restore so none starts meanwhile), checks FILE is a GridLinks SQLite
  database this version can open, keeps the current database in ``backups/`` and puts
  FILE's content in its place.
- ``doctor``: one line per check (OK / WARN / FAIL), exit 1 when any check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import shutil
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pluggy

from gridlinks.core.config import HubConfig
from gridlinks.core.errors import BadRequest, HubError, StartupError
from gridlinks.core.plugins import describe_plugins
from gridlinks.core.storage.database import SQLITE_SIDE_FILES, Storage, create_private_file, private_dir
from gridlinks.core.storage.migrations import MIGRATIONS
from gridlinks.core.storage.node_lock import NodeLock

SQLITE_MAGIC = b"SQLite format 3\x00"
# Tables every GridLinks database has had since the first schema.
GRIDLINKS_TABLES = ("schema_version", "tenant", "hub_user", "device_profile", "device", "device_credentials")
CERT_WARN_DAYS = 30
DISK_FAIL_BYTES = 200 * 1024 * 1024
DISK_WARN_BYTES = 2 * 1024 * 1024 * 1024


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    """Mount the commands; each sets ``offline``: run without opening the hub."""
    p = sub.add_parser("backup", parents=[common], help="copy the database to FILE while the hub runs (SQLite)")
    p.add_argument("file")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    p.set_defaults(func=None, offline=cmd_backup)
    p = sub.add_parser("restore", parents=[common], help="replace the database by a backup (hub stopped)")
    p.add_argument("file")
    p.set_defaults(func=None, offline=cmd_restore)
    p = sub.add_parser("doctor", parents=[common], help="check ports, database, TLS certificate, disk, plugins")
    p.set_defaults(func=None, offline=cmd_doctor)


def sqlite_file(config: HubConfig) -> Path | None:
    """The SQLite database file of this config, or None for PostgreSQL."""
    return Storage(config.core.database_url).sqlite_path


def latest_schema() -> int:
    return max(m.version for m in MIGRATIONS)


# -- files -----------------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _private_temp(target: Path) -> Iterator[Path]:
    """An empty 0600 file next to ``target``; renamed onto ``target`` when the block
    succeeds, deleted when it fails (``target`` is then untouched)."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    create_private_file(tmp)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        for suffix in ("", *SQLITE_SIDE_FILES):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=30)


def _copy_database(src: sqlite3.Connection, target: Path) -> None:
    """Everything committed in ``src``, as one self-contained file (no WAL) at ``target``.
    ``backup`` with its default ``pages=-1`` copies every page in one step, inside one read
    transaction: a consistent snapshot, while writers (in WAL mode) carry on."""
    with closing(sqlite3.connect(str(target))) as dst:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")


@dataclass(frozen=True)
class DatabaseInfo:
    schema: int
    devices: int
    profiles: int
    size: int

    def summary(self) -> str:
        return (f"{self.devices} device(s), {self.profiles} profile(s), schema version {self.schema}, "
                f"{self.size / 1e6:.1f} MB")


def inspect_database(conn: sqlite3.Connection, size: int) -> DatabaseInfo:
    def count(sql: str) -> int:
        return int(conn.execute(sql).fetchone()[0] or 0)

    return DatabaseInfo(count("SELECT max(version) FROM schema_version"), count("SELECT count(*) FROM device"),
                        count("SELECT count(*) FROM device_profile"), size)


def validate_backup(path: Path) -> DatabaseInfo:
    """``path`` is a whole GridLinks SQLite database this hub can open, or BadRequest
    saying why not (never another exception, whatever the file holds)."""
    if not path.is_file():
        raise BadRequest(f"{path} does not exist or is not a file")
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise BadRequest(f"cannot read {path}: {exc.strerror or exc}") from None
    if head != SQLITE_MAGIC:
        raise BadRequest(f"{path} is not a SQLite database (not a GridLinks backup)")
    try:
        with closing(_read_only(path)) as conn:
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise BadRequest(f"{path} is a damaged SQLite database ({check})")
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            missing = [t for t in GRIDLINKS_TABLES if t not in tables]
            if missing:
                raise BadRequest(f"{path} is a SQLite database but not a GridLinks one "
                                 f"(no table {', '.join(missing)})")
            info = inspect_database(conn, path.stat().st_size)
    except sqlite3.Error as exc:
        raise BadRequest(f"{path} is not a usable SQLite database ({exc})") from None
    if info.schema > latest_schema():
        raise BadRequest(f"{path} comes from a newer GridLinks (schema version {info.schema}; this one knows "
                         f"up to {latest_schema()}): upgrade GridLinks first")
    return info


# -- backup and restore ----------------------------------------------------------------------


def _postgres_says(action: str) -> BadRequest:
    tool = "pg_dump -Fc" if action == "backup" else "pg_restore"
    verb = "back it up" if action == "backup" else "restore it"
    return BadRequest(f"the database is PostgreSQL: {verb} with {tool} (see docs/operations.md)")


def cmd_backup(config: HubConfig, pm: pluggy.PluginManager, args: argparse.Namespace) -> int:
    db = sqlite_file(config)
    if db is None:
        raise _postgres_says("backup")
    if not db.is_file():
        raise BadRequest(f"no database at {db}: nothing to back up")
    target = Path(args.file).absolute()
    if target.resolve() == db.resolve():
        raise BadRequest(f"{target} is the database itself; name another file")
    if target.exists() and not args.force:
        raise BadRequest(f"{target} exists; name another file or pass --force to replace it")
    if not target.parent.is_dir():
        raise BadRequest(f"directory {target.parent} does not exist")
    try:
        with _private_temp(target) as tmp, closing(sqlite3.connect(str(db), timeout=30)) as src:
            _copy_database(src, tmp)
        with closing(_read_only(target)) as conn:
            info = inspect_database(conn, target.stat().st_size)
    except (sqlite3.Error, OSError) as exc:
        raise BadRequest(f"backup to {target} failed: {exc}") from None
    print(f"backup written to {target} (mode 0600): {info.summary()}")
    print("it holds device credentials and provisioning secrets: keep it owner-only")
    return 0


async def _hold_node_lock(config: HubConfig, db: Path | None) -> NodeLock:
    lock = NodeLock(config.core.database_url, db, clustered=False)
    await lock.acquire()
    return lock


def cmd_restore(config: HubConfig, pm: pluggy.PluginManager, args: argparse.Namespace) -> int:
    db = sqlite_file(config)
    if db is None:
        raise _postgres_says("restore")
    source = Path(args.file).absolute()
    if db.exists() and source.resolve() == db.resolve():
        raise BadRequest(f"{source} is the database itself")
    info = validate_backup(source)
    private_dir(db.parent)
    try:
        lock = asyncio.run(_hold_node_lock(config, db))
    except StartupError:
        raise BadRequest(f"a hub is running on {db}: stop it first (systemctl stop gridlinks), "
                         "then restore") from None
    try:
        aside = _set_aside(db)
        with _private_temp(db) as tmp, closing(_read_only(source)) as src:
            _copy_database(src, tmp)
    except (sqlite3.Error, OSError) as exc:
        raise BadRequest(f"restore from {source} failed, {db} is unchanged: {exc}") from None
    finally:
        asyncio.run(lock.release())
    print(f"restored {source} into {db}: {info.summary()}")
    if aside is not None:
        print(f"the database it replaced is kept as {aside}")
    if info.schema < latest_schema():
        print(f"the hub upgrades it to schema version {latest_schema()} on its next start")
    return 0


def _set_aside(db: Path) -> Path | None:
    """Copy the current database (WAL included) to ``backups/``, then drop its WAL and
    shared-memory files, which must never meet the file that replaces it."""
    if not db.exists():
        return None
    backups = private_dir(db.parent / "backups")
    aside = backups / f"{db.stem}.before-restore.{time.strftime('%Y%m%d%H%M%S')}.db"
    with _private_temp(aside) as tmp, closing(sqlite3.connect(str(db), timeout=30)) as src:
        _copy_database(src, tmp)
        src.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for suffix in SQLITE_SIDE_FILES:
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return aside


# -- doctor -------------------------------------------------------------------------------------

OK, WARN, FAIL = "OK", "WARN", "FAIL"


@dataclass(frozen=True)
class Check:
    status: str
    what: str
    message: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.what:<10}  {self.message}"


def cmd_doctor(config: HubConfig, pm: pluggy.PluginManager, args: argparse.Namespace) -> int:
    checks = asyncio.run(run_checks(config, pm))
    for check in checks:
        print(check.line(), flush=True)
    failed = sum(c.status == FAIL for c in checks)
    warned = sum(c.status == WARN for c in checks)
    print(f"{len(checks)} checks: {failed} failed, {warned} warning(s)")
    return 1 if failed else 0


async def run_checks(config: HubConfig, pm: pluggy.PluginManager) -> list[Check]:
    from gridlinks.core.hub import Hub  # the hub's plugins say which ports and files it uses

    settings = config.core
    checks: list[Check] = []
    hub = Hub(config)
    try:
        hub._load_plugins()  # registers transports (their settings); opens nothing
    except HubError as exc:
        return [Check(FAIL, "config", str(exc))]
    checks.append(check_plugins(pm))
    running = await hub_serves(config)
    checks.append(Check(OK, "hub", "running on this database" if running else "not running"))
    checks.extend(await check_database(config))
    checks.extend(check_files(settings.data_dir))
    for transport in hub.transports:
        checks.extend(check_ports(transport, settings.bind, running))
    checks.extend(check_certificates(hub))
    checks.append(check_disk(settings.data_dir))
    if settings.redis_url:
        checks.append(await check_redis(settings.redis_url))
    return checks


async def hub_serves(config: HubConfig) -> bool:
    """Whether a hub serves on this config's database (its node lock is taken)."""
    db = sqlite_file(config)
    if db is not None and not db.exists():
        return False  # nothing to serve on (and no lock file created by looking)
    try:
        lock = await _hold_node_lock(config, db)
    except StartupError:
        return True
    except Exception:  # noqa: BLE001 - an unreachable database is the database check's to report
        return False
    await lock.release()
    return False


def check_plugins(pm: pluggy.PluginManager) -> Check:
    plugins = describe_plugins(pm, include_disabled=True)
    enabled = [p.name for p in plugins if p.enabled]
    broken = [f"{p.name} ({p.error})" for p in plugins if p.error]
    disabled = [p.name for p in plugins if not p.enabled and not p.error]
    text = f"{len(enabled)} enabled: {', '.join(enabled)}"
    if disabled:
        text += f"; installed, not enabled: {', '.join(disabled)}"
    if broken:
        return Check(WARN, "plugins", text + f"; cannot load: {', '.join(broken)}")
    return Check(OK, "plugins", text)


async def check_database(config: HubConfig) -> list[Check]:
    latest = latest_schema()
    db = sqlite_file(config)
    try:
        if db is None:
            where = "PostgreSQL " + Storage(config.core.database_url).safe_url
            found = await _postgres_schema(config.core.database_url)
            if found is None:
                return [Check(WARN, "database", f"{where}: reachable, no GridLinks tables yet "
                                                "(`gridlinks init` creates them)")]
            version = found
        else:
            if not db.is_file():
                return [Check(WARN, "database", f"no database at {db} yet: `gridlinks init` creates it")]
            with closing(_read_only(db)) as conn:
                version = int(conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0)
            where = str(db)
    except Exception as exc:  # noqa: BLE001 - whatever the driver raises is the answer
        return [Check(FAIL, "database", f"cannot read {Storage(config.core.database_url).safe_url}: "
                                        f"{type(exc).__name__}: {exc}")]
    if version > latest:
        return [Check(FAIL, "database", f"{where}: schema version {version} is newer than this GridLinks "
                                        f"({latest}): upgrade GridLinks")]
    if version < latest:
        return [Check(WARN, "database", f"{where}: schema version {version}; the next start migrates it to "
                                        f"{latest} (SQLite: after a copy into backups/)")]
    return [Check(OK, "database", f"{where}: reachable, schema version {version} (current)")]


async def _postgres_schema(url: str) -> int | None:
    """The schema version of a PostgreSQL database; None where the hub has no tables yet."""
    import asyncpg

    conn = await asyncio.wait_for(asyncpg.connect(url.replace("postgres://", "postgresql://", 1)), 5)
    try:
        if not await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL"):
            return None
        return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version"))
    finally:
        await conn.close()


def check_files(data_dir: Path) -> list[Check]:
    """The data directory 0700 and the database files in it 0600 (they hold secrets)."""
    if not data_dir.is_dir():
        return [Check(WARN, "files", f"data directory {data_dir} does not exist yet")]
    loose = [f"{data_dir} ({oct(data_dir.stat().st_mode & 0o777)})"] if data_dir.stat().st_mode & 0o077 else []
    for path in sorted([*data_dir.glob("hub.db*"), *data_dir.glob("backups/*"), *data_dir.glob("tls/*.key")]):
        mode = path.stat().st_mode & 0o777
        if path.is_file() and mode & 0o077:
            loose.append(f"{path.name} ({oct(mode)})")
    if loose:
        return [Check(WARN, "files", "readable by others: " + ", ".join(loose) + " (the next start tightens "
                                     "what the hub owns; chmod go= the rest)")]
    return [Check(OK, "files", f"{data_dir}: owner-only")]


def _ports(transport: Any) -> list[tuple[str, int]]:
    """``(setting, port)`` for every ``port`` / ``*_port`` field of a transport's settings."""
    settings = getattr(transport, "settings", None)
    found = []
    for name in type(settings).model_fields if settings is not None else ():
        value = getattr(settings, name)
        if (name == "port" or name.endswith("_port")) and isinstance(value, int) and not isinstance(value, bool):
            found.append((f"{transport.name}.{name}", value))
    return found


def check_ports(transport: Any, bind: str, running: bool) -> list[Check]:
    udp = transport.name.startswith("coap")
    checks = []
    for setting, port in _ports(transport):
        label = f"{setting} {port}/{'udp' if udp else 'tcp'}"
        if port == 0:
            checks.append(Check(OK, "ports", f"{label}: any free port"))
            continue
        problem = _bind_problem(bind, port, udp)
        if problem is None:
            checks.append(Check(OK, "ports", f"{label}: free"))
        elif problem == errno.EADDRINUSE and running:
            checks.append(Check(OK, "ports", f"{label}: in use by the hub running on this data directory"))
        elif problem == errno.EADDRINUSE:
            checks.append(Check(FAIL, "ports", f"{label}: in use by another program (no hub runs on this data "
                                               f"directory); free it or change {setting}"))
        elif problem == errno.EACCES:
            checks.append(Check(FAIL, "ports", f"{label}: not allowed for this user (below 1024: "
                                               "AmbientCapabilities=CAP_NET_BIND_SERVICE, or a higher port)"))
        else:
            checks.append(Check(FAIL, "ports", f"{label}: cannot be bound on {bind} ({os.strerror(problem)})"))
    return checks


def _bind_problem(bind: str, port: int, udp: bool) -> int | None:
    try:
        infos = socket.getaddrinfo(bind or None, port, type=socket.SOCK_DGRAM if udp else socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return errno.EADDRNOTAVAIL
    family, kind, proto, _, address = infos[0]
    with closing(socket.socket(family, kind, proto)) as sock:
        if not udp:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the hub binds
        try:
            sock.bind(address)
        except OSError as exc:
            return exc.errno or errno.EADDRINUSE
    return None


def check_certificates(hub: Any) -> list[Check]:
    """The TLS certificates the transports serve (``cert_file``; default data/tls/server.pem)."""
    paths = {Path(p) for t in hub.transports if (p := getattr(t, "cert_file", None))}
    if not paths:
        paths = {hub.settings.data_dir / "tls" / "server.pem"}
    return [check_certificate(p) for p in sorted(paths)]


def check_certificate(path: Path) -> Check:
    from cryptography import x509

    if not path.exists():
        return Check(OK, "tls", f"{path}: not there yet (the hub generates one on its first start)")
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        return Check(FAIL, "tls", f"{path}: not a PEM certificate ({exc})")
    days = (cert.not_valid_after_utc.timestamp() - time.time()) / 86400
    until = cert.not_valid_after_utc.strftime("%Y-%m-%d")
    if days < 0:
        return Check(FAIL, "tls", f"{path}: expired on {until}; replace it (docs/operations.md)")
    if days < CERT_WARN_DAYS:
        return Check(WARN, "tls", f"{path}: expires in {days:.0f} day(s), on {until}")
    return Check(OK, "tls", f"{path}: valid until {until} ({days:.0f} days)")


def check_disk(data_dir: Path) -> Check:
    where = data_dir if data_dir.exists() else data_dir.absolute().parent
    while not where.exists():
        where = where.parent
    usage = shutil.disk_usage(where)
    text = f"{usage.free / 1e9:.1f} GB free of {usage.total / 1e9:.1f} GB at {where}"
    if usage.free < DISK_FAIL_BYTES:
        return Check(FAIL, "disk", text + ": the database cannot grow (writes will fail)")
    if usage.free < DISK_WARN_BYTES or usage.free < usage.total * 0.05:
        return Check(WARN, "disk", text)
    return Check(OK, "disk", text)


async def check_redis(url: str) -> Check:
    import redis.asyncio as redis

    client = redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    safe = url.split("@")[-1]
    try:
        await client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means the nodes cannot share state
        return Check(FAIL, "redis", f"{safe}: unreachable ({type(exc).__name__}: {exc})")
    finally:
        await client.aclose()
    return Check(OK, "redis", f"{safe}: reachable")
