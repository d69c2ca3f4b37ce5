"""Fills a hub's SQLite database with devices through plain sqlite3, before the hub starts.

Going through the hub would take minutes for a million devices and would measure the
hub while it is being filled; plain ``executemany`` in one transaction writes the same
rows (device, its access token, its ``provisionState`` attribute) in seconds, into a
database the hub created itself with ``gridlinks init``, so the schema is the hub's own.
Device ``i`` is named ``{prefix}{i:07d}`` with token ``{token_prefix}{i:07d}``.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import VENV_BIN, free_port, hub_env
from gridlinks.core.storage.ids import new_id_texts

CHUNK = 50_000
SYNCHRONOUS = "NORMAL"
# Every bench data dir has this admin and this provisioning profile (ALLOW_CREATE_NEW_DEVICES),
# made with the CLI, so no scenario depends on what `init` prints or creates by itself.
ADMIN_EMAIL, ADMIN_PASSWORD = "bench-admin@gridlinks.local", "bench-Admin-password-2026"
PROFILE, PROVISION_KEY, PROVISION_SECRET = "Bench profile", "bench-provision-key", "bench-provision-secret"
PROVISIONED = json.dumps({"v": "provisioned"})


def cli(data_dir: Path, *args: str, gridlinks: Path | None = None) -> str:
    """Run a ``gridlinks`` subcommand on ``data_dir`` (nothing is started, so the ports
    are irrelevant); its output. ``gridlinks``: another installation's executable."""
    env = hub_env({"http": free_port(), "mqtt": free_port(), "mqtts": free_port(), "coap": free_port()}, data_dir)
    done = subprocess.run([str(gridlinks or VENV_BIN / "gridlinks"), *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"gridlinks {' '.join(args[:2])} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


@functools.cache
def _initialised_template(gridlinks: Path | None = None) -> Path:
    """One ``gridlinks init`` (with the bench admin) and the bench profile per run and
    installation, copied for every scenario that needs a data directory (an init costs a
    second and a half; a copy, milliseconds)."""
    template = Path(tempfile.mkdtemp(prefix="gridlinks-bench-template-"))
    atexit.register(shutil.rmtree, template, ignore_errors=True)
    cli(template, "init", "--admin-email", ADMIN_EMAIL, "--admin-password", ADMIN_PASSWORD, gridlinks=gridlinks)
    cli(template, "profile", "create", "--name", PROFILE, "--strategy", "allow-create", "--key", PROVISION_KEY,
        "--secret", PROVISION_SECRET, gridlinks=gridlinks)
    return template


def init_data_dir(data_dir: Path, gridlinks: Path | None = None) -> Path:
    """A data directory as ``gridlinks init`` leaves it, with the bench admin and profile;
    the database path."""
    shutil.copytree(_initialised_template(gridlinks), data_dir, dirs_exist_ok=True)
    return data_dir / "hub.db"


def device_rows(tenant_id: str, profile_id: str, profile_name: str, start: int, stop: int, prefix: str,
                token_prefix: str, created_ms: int):
    """(device, credentials, attribute) rows for devices ``start`` to ``stop - 1``, with ids
    made as the hub makes them, so the baselines write the same rows and a seeded
    database has the index layout of one the hub filled."""
    devices, credentials, attributes = [], [], []
    ids = iter(new_id_texts(2 * (stop - start)))  # the hub's own time-ordered ids (core/storage/ids.py)
    for i in range(start, stop):
        device_id = next(ids)
        devices.append((device_id, f"{prefix}{i:07d}", profile_name, "", "", 0, 1, "{}", created_ms + i, None,
                        profile_id, tenant_id))
        credentials.append((next(ids), "ACCESS_TOKEN", f"{token_prefix}{i:07d}", "", created_ms, device_id))
        attributes.append(("SERVER_SCOPE", "provisionState", PROVISIONED, created_ms, device_id))
    return devices, credentials, attributes


def seed_devices(db: Path, count: int, prefix: str = "seed-", token_prefix: str = "seedtok",
                 provisioned: bool = True) -> float:
    """Insert ``count`` devices with access tokens (and, if ``provisioned``, their
    ``provisionState``) into the tenant's default profile, in one transaction; the
    seconds that took (not counting the WAL checkpoint after it)."""
    conn = sqlite3.connect(str(db))
    try:
        conn.execute(f"PRAGMA synchronous={SYNCHRONOUS}")  # the hub's setting (WAL is in the file already)
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA cache_size=-262144")  # 256 MB: random-key index inserts stay in memory
        started = time.perf_counter()
        tenant_id, profile_id, profile_name = conn.execute(
            "SELECT tenant_id, id, name FROM device_profile WHERE is_default = 1").fetchone()
        created_ms = int(time.time() * 1000) - count
        with conn:
            for start in range(0, count, CHUNK):
                devices, credentials, attributes = device_rows(
                    tenant_id, profile_id, profile_name, start, min(start + CHUNK, count), prefix, token_prefix,
                    created_ms)
                conn.executemany(
                    'INSERT INTO device (id, name, type, label, description, is_gateway, enabled, additional_info, '
                    'created_ms, customer_id, profile_id, tenant_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)', devices)
                conn.executemany(
                    'INSERT INTO device_credentials (id, credentials_type, credentials_id, credentials_value, '
                    'created_ms, device_id) VALUES (?,?,?,?,?,?)', credentials)
                if provisioned:
                    conn.executemany(
                        'INSERT INTO attribute (scope, key, value, last_update_ms, device_id) VALUES (?,?,?,?,?)',
                        attributes)
        seconds = time.perf_counter() - started
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return seconds


async def _seed_pg(db_url: str, count: int, prefix: str, token_prefix: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        tenant_id, profile_id, profile_name = await conn.fetchrow(
            "SELECT tenant_id::text, id::text, name FROM device_profile WHERE is_default")
        created_ms = int(time.time() * 1000) - count
        async with conn.transaction():
            await conn.execute("SET LOCAL synchronous_commit = off")
            # The rows are consistent by construction: skip the per-row foreign-key triggers.
            await conn.execute("SET LOCAL session_replication_role = replica")
            for start in range(0, count, CHUNK):
                devices, credentials, attributes = device_rows(
                    tenant_id, profile_id, profile_name, start, min(start + CHUNK, count), prefix, token_prefix,
                    created_ms)
                await conn.copy_records_to_table(
                    "device", columns=["id", "name", "type", "label", "description", "is_gateway", "enabled",
                                       "additional_info", "created_ms", "customer_id", "profile_id", "tenant_id"],
                    records=[(*d[:5], bool(d[5]), bool(d[6]), *d[7:]) for d in devices])
                await conn.copy_records_to_table(
                    "device_credentials", columns=["id", "credentials_type", "credentials_id", "credentials_value",
                                                   "created_ms", "device_id"], records=credentials)
                await conn.copy_records_to_table(
                    "attribute", columns=["scope", "key", "value", "last_update_ms", "device_id"], records=attributes)
        await conn.execute("VACUUM ANALYZE device, device_credentials, attribute")
    finally:
        await conn.close()


def seed_devices_pg(db_url: str, count: int, prefix: str = "seed-", token_prefix: str = "seedtok") -> float:
    """``seed_devices`` for a PostgreSQL database made by ``gridlinks init`` (the hub's own
    schema): binary COPY through asyncpg in one transaction, then VACUUM ANALYZE so the
    planner knows the tables' sizes, as autovacuum would soon after on a real site; the
    seconds it all took."""
    import asyncio

    started = time.perf_counter()
    asyncio.run(_seed_pg(db_url, count, prefix, token_prefix))
    return time.perf_counter() - started
