"""Helpers the tests share: free loopback ports, building a hub on them, HTTP calls."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from gridlinks.core.config import HubConfig
from gridlinks.core.hub import Hub
from gridlinks.core.services.bootstrap import bootstrap

REPO = Path(__file__).resolve().parent.parent
SEED_PYTHON = REPO / ".venv-seeds" / "bin" / "python"
ADMIN_EMAIL = "admin@test.local"
ADMIN_PASSWORD = "admin-password-1"


# Below the kernel's ephemeral range (32768-60999 by default): a port handed out by
# ``bind(0)`` is free now but may be taken by any outgoing connection (a test's own HTTP
# client, PostgreSQL, Redis) before the hub binds it. Ports here are never handed out that
# way, so only another listener could take one, and the bind check rules that out.
_PORT_RANGE = (20000, 32000)
# Under pytest-xdist (`make test` runs two workers) each worker draws from its own slice,
# so two workers never hand out the same port.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _WORKER.startswith("gw") and os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1").isdigit():
    _count = max(1, int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    _slice = (_PORT_RANGE[1] - _PORT_RANGE[0]) // _count
    _start = _PORT_RANGE[0] + int(_WORKER[2:] or 0) % _count * _slice
    _PORT_RANGE = (_start, _start + _slice - 1)


_handed_out: set[int] = set()  # never the same port twice in one test run (one hub's four ports included)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port nothing listens on right now, on 127.0.0.1 (TCP by default, or UDP)."""
    for _ in range(200):
        port = random.randint(*_PORT_RANGE)
        if port in _handed_out:
            continue
        if len(_handed_out) > (_PORT_RANGE[1] - _PORT_RANGE[0]) // 2:  # half the range: start over, never run dry
            _handed_out.clear()
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free port in {_PORT_RANGE}")


def port_env() -> dict[str, str]:
    """Free loopback ports for every transport, as environment overrides: tests never
    touch the standard ports (Mosquitto owns 1883 on these machines), and a variable for
    a transport that is not enabled is simply unused."""
    return {"GRIDLINKS_HTTP_PORT": str(free_port()), "GRIDLINKS_MQTT_PORT": str(free_port()),
            "GRIDLINKS_MQTTS_PORT": str(free_port()), "GRIDLINKS_COAP_PORT": str(free_port(socket.SOCK_DGRAM)),
            "GRIDLINKS_HTTP_TLS_PORT": str(free_port()), "GRIDLINKS_BIND": "127.0.0.1",
            # Test hubs do not advertise on the LAN (tests/plugins/discovery turns it on).
            "GRIDLINKS_DISCOVERY_ENABLED": "false"}


def storage_url(db_url: str | None, tmp_path: Path) -> str:
    """The database a storage test opens: ``db_url`` (PostgreSQL) or a SQLite file in tmp_path."""
    return db_url or f"sqlite://{tmp_path / 'hub.db'}"


def hub_config(data_dir: Path, db_url: str | None = None, **raw: Any) -> HubConfig:
    """A config on free loopback ports that ignores the caller's GRIDLINKS_* variables.
    ``raw`` keys are merged over the defaults (plugin sections too)."""
    base: dict[str, Any] = {"data_dir": str(data_dir), "db_url": db_url}
    for key, value in raw.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    environ = port_env()
    # A port the test sets itself wins over the free one.
    for section, value in raw.items():
        environ.pop(f"GRIDLINKS_{section}".upper(), None)
        for key in value if isinstance(value, dict) else ():
            environ.pop(f"GRIDLINKS_{section}_{key}".upper(), None)
            if (section, key) == ("mqtt", "tls_port"):
                environ.pop("GRIDLINKS_MQTTS_PORT", None)
    return HubConfig(base, environ=environ)


@dataclass
class RunningHub:
    hub: Hub
    base_url: str
    session: aiohttp.ClientSession
    key: str
    secret: str
    admin_token: str

    async def post(self, path: str, json: Any = None, data: Any = None, token: str | None = None, **kw):
        headers = kw.pop("headers", {})
        if token:
            headers["X-Authorization"] = f"Bearer {token}"
        async with self.session.post(self.base_url + path, json=json, data=data, headers=headers, **kw) as r:
            return r.status, await _body(r)

    async def get(self, path: str, token: str | None = None, **kw):
        headers = kw.pop("headers", {})
        if token:
            headers["X-Authorization"] = f"Bearer {token}"
        async with self.session.get(self.base_url + path, headers=headers, **kw) as r:
            return r.status, await _body(r)

    async def delete(self, path: str, token: str | None = None, **kw):
        headers = {"X-Authorization": f"Bearer {token}"} if token else {}
        async with self.session.delete(self.base_url + path, headers=headers, **kw) as r:
            return r.status, await _body(r)

    async def admin(self, method: str, path: str, json: Any = None):
        fn = {"GET": self.get, "POST": self.post, "DELETE": self.delete}[method]
        if method == "POST":
            return await fn(path, json=json, token=self.admin_token)
        return await fn(path, token=self.admin_token)

    async def provision(self, **body):
        return await self.post("/api/v1/provision", json=body)


async def _body(response: aiohttp.ClientResponse) -> Any:
    raw = await response.read()
    if not raw:
        return None
    if response.content_type == "application/json":
        return await response.json(content_type=None)
    return raw.decode("utf-8", "replace")


async def start_hub(config: HubConfig, extra_plugins=None) -> RunningHub:
    hub = Hub(config, extra_plugins=extra_plugins)
    await hub.start()
    result = await bootstrap(hub, ADMIN_EMAIL, ADMIN_PASSWORD, demo=True)
    session = aiohttp.ClientSession()
    base_url = f"http://127.0.0.1:{hub.config.section('http', _http_settings()).port}"
    running = RunningHub(hub, base_url, session, result.demo_profile.provision_key,
                         result.demo_profile.provision_secret, "")
    status, tokens = await running.post("/api/auth/login", json={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert status == 200, tokens
    running.admin_token = tokens["token"]
    return running


def _http_settings():
    from gridlinks.plugins.transport_http.server import HttpSettings

    return HttpSettings


async def stop_hub(running: RunningHub) -> None:
    await running.session.close()
    await running.hub.stop()


def with_mqtt_ports(running: RunningHub) -> RunningHub:
    """Note the hub's MQTT ports on ``running`` (the config chose free ones)."""
    settings = running.hub.transports.get("mqtt").settings
    running.mqtt_port, running.mqtts_port = settings.port, settings.tls_port
    return running


async def run_script(script: Path, answers: list[str], cwd: Path, timeout: float = 60.0,
                     python: Path = SEED_PYTHON) -> tuple[int, str]:
    """Run a reference client script, typing ``answers`` at its input() prompts."""
    proc = await asyncio.create_subprocess_exec(
        str(python), str(script), cwd=str(cwd), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        out, _ = await asyncio.wait_for(proc.communicate(("\n".join(answers) + "\n").encode()), timeout)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
        return -9, out.decode("utf-8", "replace")
    return proc.returncode, out.decode("utf-8", "replace")


def seed_python_or_skip():
    import pytest

    if not SEED_PYTHON.exists():
        pytest.skip(f"{SEED_PYTHON} missing: run `make test` (tests/setup_clients.sh builds it)")
    return SEED_PYTHON


__all__ = ["free_port", "hub_config", "start_hub", "stop_hub", "run_script", "RunningHub", "sys"]


REDIS_URL = os.environ.get("GRIDLINKS_TEST_REDIS", "redis://127.0.0.1:6379/0")


async def redis_or_skip() -> None:
    """Skip the calling test, with the reason, where no Redis answers at ``REDIS_URL``."""
    import pytest
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc!r}")
    finally:
        await client.aclose()


async def run_until(python: Path, script: Path, answers: list[str], cwd: Path, marker: str,
                    limit_s: float = 60.0) -> str:
    """Run ``script`` answering its prompts; return its output once ``marker`` is printed
    (then stop it), or when it exits, or after ``limit_s``."""
    cwd.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        str(python), str(script), cwd=str(cwd), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    proc.stdin.write(("\n".join(answers) + "\n").encode())
    await proc.stdin.drain()
    out: list[str] = []

    async def read() -> None:
        async for line in proc.stdout:
            out.append(line.decode("utf-8", "replace"))
            if marker in out[-1]:
                return

    try:
        await asyncio.wait_for(read(), limit_s)
    except TimeoutError:
        out.append(f"\n[test] no {marker!r} within {limit_s} s\n")
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    return "".join(out)


async def provision_named(running: RunningHub, name: str, **extra: Any) -> dict:
    """Provision ``name`` over HTTP with the demo profile's key and secret; the body (HTTP 200 asserted)."""
    status, body = await running.provision(deviceName=name, provisionDeviceKey=running.key,
                                           provisionDeviceSecret=running.secret, **extra)
    assert status == 200, body
    return body


async def wait_healthy(url: str, proc, log: Path, timeout_s: float = 30) -> None:
    """Until ``url`` answers (a hub or balancer process started by a test); the process's
    log tail in the failure when it exits or stays silent."""
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"{url}: process exited {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            await asyncio.to_thread(urllib.request.urlopen, url, timeout=1)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer:\n{log.read_text()[-2000:]}") from None
            await asyncio.sleep(0.2)
