"""How long the dashboard's device list takes to render with 100k devices in a tenant.

Builds a throw-away hub on SQLite (WAL) in a temporary directory, inserts N devices
(half provisioned, a tenth assigned to a customer), signs in through the login form
and times GET /ui/devices over loopback: first page, a page deep into the list (keyset
cursor), and the search and filters. Writes bench/results/dashboard_list.json.

    .venv/bin/python bench/dashboard_list.py [--devices 100000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

from gridlinks.core.config import HubConfig
from gridlinks.core.hub import Hub
from gridlinks.core.services.bootstrap import bootstrap
from gridlinks.core.storage.models import Attribute, Device, DeviceProfile, Scope, wrap

RESULTS = Path(__file__).resolve().parent / "results" / "dashboard_list.json"
EMAIL, PASSWORD = "bench@bench.local", "bench-password-1"
BATCH = 5000


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def populate(hub: Hub, tenant, count: int) -> None:
    profile = await DeviceProfile.get(tenant=tenant, is_default=True)
    customer = await hub.customers.create(tenant, "Bench customer") if hasattr(hub, "customers") else None
    base = int(time.time() * 1000) - count
    for start in range(0, count, BATCH):
        devices = [Device(id=uuid.uuid4(), tenant=tenant, profile=profile, name=f"dev-{i:07d}", type=profile.name,
                          created_ms=base + i, customer=customer if customer and i % 10 == 0 else None)
                   for i in range(start, min(start + BATCH, count))]
        async with hub.storage.transaction() as tx:
            await Device.bulk_create(devices, using_db=tx)
            await Attribute.bulk_create([Attribute(device_id=d.id, scope=Scope.SERVER, key="provisionState",
                                                   boxed=wrap("provisioned")) for n, d in enumerate(devices)
                                         if (start + n) % 2 == 0], using_db=tx)


async def login(session: aiohttp.ClientSession, base: str) -> None:
    async with session.get(base + "/ui/login") as r:
        token = re.search(r'name="csrf_token" value="([^"]+)"', await r.text()).group(1)
    async with session.post(base + "/ui/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token},
                            allow_redirects=False) as r:
        assert r.status == 303, await r.text()


async def timed(session: aiohttp.ClientSession, url: str, repeat: int) -> dict:
    samples = []
    for _ in range(repeat + 2):
        start = time.perf_counter()
        async with session.get(url) as r:
            body = await r.text()
            assert r.status == 200, body[:300]
        samples.append((time.perf_counter() - start) * 1000)
    samples = sorted(samples[2:])  # the first two warm caches
    return {"median_ms": round(statistics.median(samples), 1),
            "p95_ms": round(samples[max(int(len(samples) * 0.95) - 1, 0)], 1),
            "max_ms": round(samples[-1], 1), "rows": body.count('data-label="Name"')}


async def main(count: int, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        config = HubConfig({"data_dir": tmp, "bind": "127.0.0.1", "http": {"port": port},
                            "plugins": [p for p in HubConfig({}, environ={}).core.plugins
                                        if p not in ("mqtt", "coap")]}, environ={})
        hub = Hub(config)
        await hub.start()
        try:
            result = await bootstrap(hub, EMAIL, PASSWORD)
            t0 = time.perf_counter()
            await populate(hub, result.tenant, count)
            fill_s = time.perf_counter() - t0
            base = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
                await login(session, base)
                async with session.get(base + "/ui/devices") as r:
                    html = await r.text()
                cursor = re.search(r'rel="next" href="[^"]*after=([^"&]+)', html).group(1)
                middle = await Device.filter(name=f"dev-{count // 2:07d}").first()
                deep = f"{middle.created_ms}_{middle.id}"
                cases = {
                    "first page": "/ui/devices",
                    "second page (cursor)": f"/ui/devices?after={cursor}",
                    "page in the middle (cursor)": f"/ui/devices?after={deep}",
                    "provisioned=yes": "/ui/devices?provisioned=yes",
                    "provisioned=no": "/ui/devices?provisioned=no",
                    "claimed=yes": "/ui/devices?claimed=yes",
                    "search 'dev-00123'": "/ui/devices?q=dev-00123",
                }
                timings = {name: await timed(session, base + path, repeat) for name, path in cases.items()}
        finally:
            await hub.stop()
    return {"benchmark": "dashboard device list (GET /ui/devices, full HTML page over loopback)",
            "devices": count, "repeat": repeat, "database": "SQLite WAL", "fill_seconds": round(fill_s, 1),
            "python": sys.version.split()[0], "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
            "date": time.strftime("%Y-%m-%d"), "timings": timings}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    report = asyncio.run(main(args.devices, args.repeat))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
