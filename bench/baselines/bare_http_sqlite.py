"""Reference (not a target): the bare aiohttp handler of ``bare_http.py`` plus the rows a
provisioning stores, committed before the answer. What the hub's HTTP provisioning could
reach on the same core with no rules, no plugins and no events: the floor that aiohttp
and SQLite set together.

Per request: parse the JSON, mint a token, queue the four rows the hub writes for a new
device (device, access token, ``provisionState``, audit row) and answer once they are
committed. One writer task batches whatever is queued into one transaction on a
dedicated thread (``executemany`` per table, WAL + synchronous NORMAL, the hub's pragmas),
as the hub's group commit does.

    python bench/baselines/bare_http_sqlite.py PORT DB
"""

import asyncio
import json
import os
import sqlite3
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from gridlinks.core.storage.ids import new_id  # the hub's time-ordered row ids: the same index pages

DEVICE = ('INSERT INTO device (id, name, type, label, description, is_gateway, enabled, additional_info, '
          'created_ms, customer_id, profile_id, tenant_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)')
CREDENTIALS = ('INSERT INTO device_credentials (id, credentials_type, credentials_id, credentials_value, '
               'created_ms, device_id) VALUES (?,?,?,?,?,?)')
STATE = 'INSERT INTO attribute (scope, key, value, last_update_ms, device_id) VALUES (?,?,?,?,?)'
AUDIT = ('INSERT INTO audit_event (ts, tenant_id, action, outcome, transport, device_id, device_name, actor, '
         'reason, details) VALUES (?,?,?,?,?,?,?,?,?,?)')
SQL = (DEVICE, CREDENTIALS, STATE, AUDIT)


class Store:
    def __init__(self, path: str):
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # The hub's settings, its WAL sizing included (core/storage/database.py), with
        # SQLite's own checkpoints in the commit instead of the hub's checkpoint thread.
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "cache_size=-65536",
                       "wal_autocheckpoint=16384", f"journal_size_limit={16384 * 4096}"):
            self.db.execute(f"PRAGMA {pragma}")
        self.tenant, self.profile, self.profile_name = self.db.execute(
            "SELECT tenant_id, id, name FROM device_profile WHERE is_default = 1").fetchone()
        self.queue: list[tuple[tuple, asyncio.Future]] = []
        self.wakeup = asyncio.Event()
        self.thread = ThreadPoolExecutor(1)

    def commit(self, rows: list[tuple]) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        for sql, table in zip(SQL, zip(*rows)):
            self.db.executemany(sql, table)
        self.db.execute("COMMIT")

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            while self.queue:
                batch, self.queue = self.queue, []
                await loop.run_in_executor(self.thread, self.commit, [rows for rows, _ in batch])
                for _, future in batch:
                    future.set_result(None)

    def write(self, rows: tuple) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.queue.append((rows, future))
        self.wakeup.set()
        return future


async def provision(request: web.Request) -> web.Response:
    store: Store = request.app["store"]
    body = json.loads(await request.read())
    name = body.get("deviceName", "")
    device_id, token, now = str(new_id()), os.urandom(10).hex(), int(time.time() * 1000)
    await store.write((
        (device_id, name, store.profile_name, "", "", 0, 1, "{}", now, None, store.profile, store.tenant),
        (str(new_id()), "ACCESS_TOKEN", token, "", now, device_id),
        ("SERVER_SCOPE", "provisionState", '{"v":"provisioned"}', now, device_id),
        (now, store.tenant, "provision", "SUCCESS", "HTTP", device_id, name, "", "", '{"profile":"bench"}'),
    ))
    return web.json_response({"credentialsValue": token, "credentialsType": "ACCESS_TOKEN", "status": "SUCCESS",
                              "deviceId": device_id, "deviceName": name})


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "UP"})


async def start(app: web.Application) -> None:
    app["writer"] = asyncio.get_running_loop().create_task(app["store"].run())


def main() -> None:
    port, path = int(sys.argv[1]), sys.argv[2]
    app = web.Application()
    app["store"] = Store(path)
    app.on_startup.append(start)
    app.router.add_post("/api/v1/provision", provision)
    app.router.add_get("/api/health", health)
    print("ready", flush=True)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
