"""Fixtures: a fresh hub per test on free loopback ports, on SQLite by default and on
PostgreSQL (a throw-away database on 127.0.0.1:5432) for tests that take ``db_url``."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from tests.support import hub_config, start_hub, stop_hub, with_mqtt_ports

PG_DSN = os.environ.get("GRIDLINKS_TEST_PG", "postgres://postgres@127.0.0.1:5432/postgres")


async def _pg_admin():
    import asyncpg

    return await asyncio.wait_for(asyncpg.connect(PG_DSN), 5)


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request, tmp_path):
    """None (SQLite in the hub's data dir), or a fresh PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield None
        return
    try:
        conn = await _pg_admin()
    except Exception as exc:  # absent on this machine: skip with the reason
        pytest.skip(f"PostgreSQL not reachable at {PG_DSN}: {exc!r}")
    name = f"gridlinks_test_{uuid.uuid4().hex[:12]}"
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    base = PG_DSN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        conn = await _pg_admin()
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


@pytest.fixture
async def running(tmp_path):
    """A started hub on SQLite with the demo profile (ALLOW_CREATE_NEW_DEVICES) and an admin token."""
    hub = await start_hub(hub_config(tmp_path / "data"))
    try:
        yield hub
    finally:
        await stop_hub(hub)


@pytest.fixture
async def mqtt_hub(tmp_path):
    """A hub on SQLite with the demo profile, an admin token and ``mqtt_port``."""
    running = with_mqtt_ports(await start_hub(hub_config(tmp_path / "data")))
    try:
        yield running
    finally:
        await stop_hub(running)


@pytest.fixture
async def running_db(tmp_path, db_url):
    """Like ``running`` but on every database backend (SQLite and PostgreSQL)."""
    hub = await start_hub(hub_config(tmp_path / "data", db_url=db_url))
    try:
        yield hub
    finally:
        await stop_hub(hub)


@pytest.fixture
def running_sync(tmp_path_factory):
    """For hypothesis tests (sync): one hub on its own event loop, and a function that
    posts a payload to every device endpoint and returns the status codes."""
    import json as _json

    loop = asyncio.new_event_loop()
    running = loop.run_until_complete(start_hub(hub_config(tmp_path_factory.mktemp("hyp") / "data")))
    status, body = loop.run_until_complete(running.provision(
        deviceName="fuzz", provisionDeviceKey=running.key, provisionDeviceSecret=running.secret))
    token = body["credentialsValue"]

    def post_everywhere(payload):
        data = payload if isinstance(payload, str) else _json.dumps(payload)

        async def go():
            out = []
            for path in ("/api/v1/provision", f"/api/v1/{token}/telemetry", f"/api/v1/{token}/attributes"):
                out.append((await running.post(path, data=data.encode("utf-8", "surrogatepass")))[0])
            return out
        return loop.run_until_complete(asyncio.wait_for(go(), 30))

    try:
        yield post_everywhere
    finally:
        loop.run_until_complete(stop_hub(running))
        loop.close()


@pytest.fixture
def no_tracebacks():
    """Fails the test if anything logs a traceback (a record with exc_info) or an ERROR:
    bad input must be answered in the protocol's terms, never crash a handler."""
    import logging

    class Collect(logging.Handler):
        def __init__(self):
            super().__init__(logging.DEBUG)
            self.bad: list[logging.LogRecord] = []

        def emit(self, record):
            if record.exc_info or record.levelno >= logging.ERROR:
                self.bad.append(record)

    handler = Collect()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler.bad
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert not handler.bad, [f"{r.name}: {r.getMessage()}" for r in handler.bad]
