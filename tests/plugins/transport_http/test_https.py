"""HTTPS on http.tls_port over real TLS (a client trusting the generated certificate),
the Secure cookie there, and plain HTTP redirecting people but not devices."""

from __future__ import annotations

import ssl

import aiohttp
import pytest

from gridlinks.core.errors import ConfigError
from gridlinks.core.hub import Hub
from gridlinks.core.services.bootstrap import bootstrap
from tests.support import ADMIN_EMAIL, ADMIN_PASSWORD, hub_config, start_hub, stop_hub


def trusting(running) -> ssl.SSLContext:
    """A client context trusting exactly the hub's certificate (the one MQTT uses too)."""
    return ssl.create_default_context(cafile=str(running.hub.transports.get("mqtt").cert_file))


def https_url(running, path: str) -> str:
    return f"https://localhost:{running.hub.transports.get('http').tls_port}{path}"


async def test_https_serves_api_and_dashboard_with_the_mqtt_certificate(running):
    ctx = trusting(running)
    async with aiohttp.ClientSession() as session:
        async with session.get(https_url(running, "/api/health"), ssl=ctx) as r:
            assert r.status == 200 and (await r.json())["status"] == "UP"
        async with session.post(https_url(running, "/api/auth/login"), ssl=ctx,
                                json={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}) as r:
            assert r.status == 200 and (await r.json())["token"]
        status, body = None, None
        async with session.post(https_url(running, "/api/v1/provision"), ssl=ctx,
                                json={"deviceName": "tls-1", "provisionDeviceKey": running.key,
                                      "provisionDeviceSecret": running.secret}) as r:
            status, body = r.status, await r.json()
        assert status == 200 and body["status"] == "SUCCESS"
        # A client that does not trust the certificate is refused by its own TLS stack.
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await session.get(https_url(running, "/api/health"), ssl=ssl.create_default_context())


async def test_dashboard_cookies_are_secure_over_https_only(running):
    """The login page sets its CSRF cookie: Secure over HTTPS, not over plain HTTP."""
    async with aiohttp.ClientSession() as session:
        async with session.get(https_url(running, "/ui/login"), ssl=trusting(running)) as r:
            assert r.status == 200
            cookies = r.headers.getall("Set-Cookie", [])
        assert cookies and all("Secure" in c for c in cookies), cookies
        async with session.get(running.base_url + "/ui/login") as r:
            plain = r.headers.getall("Set-Cookie", [])
        assert plain and not any("Secure" in c for c in plain), plain


async def test_redirect_to_https_keeps_the_device_api_on_plain_http(tmp_path):
    hub = await Hub(hub_config(tmp_path / "data", http={"redirect_to_https": True})).start()
    try:
        demo = (await bootstrap(hub, ADMIN_EMAIL, ADMIN_PASSWORD, demo=True)).demo_profile
        http = hub.transports.get("http")
        base = f"http://127.0.0.1:{http.settings.port}"
        async with aiohttp.ClientSession() as session:
            async with session.get(base + "/ui/devices?page=2", allow_redirects=False) as r:
                assert r.status == 308
                assert r.headers["Location"] == f"https://127.0.0.1:{http.tls_port}/ui/devices?page=2"
            async with session.post(base + "/api/auth/login", allow_redirects=False,
                                    json={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}) as r:
                assert r.status == 308 and r.headers["Location"].startswith("https://")
            async with session.post(f"https://localhost:{http.tls_port}/api/auth/login",
                                    ssl=ssl.create_default_context(cafile=str(hub.transports.get("mqtt").cert_file)),
                                    json={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}) as r:
                assert r.status == 200
            async with session.post(base + "/api/v1/provision", allow_redirects=False,
                                    json={"deviceName": "plain-1", "provisionDeviceKey": demo.provision_key,
                                          "provisionDeviceSecret": demo.provision_secret}) as r:
                body = await r.json()
                assert r.status == 200 and body["status"] == "SUCCESS"
            async with session.post(f"{base}/api/v1/{body['credentialsValue']}/telemetry", json={"t": 1},
                                    allow_redirects=False) as r:
                assert r.status == 200
            async with session.get(base + "/api/health", allow_redirects=False) as r:
                assert r.status == 200
    finally:
        await hub.stop()


async def test_tls_port_zero_disables_https_and_redirect_needs_it(tmp_path):
    running = await start_hub(hub_config(tmp_path / "data", http={"tls_port": 0}))
    try:
        assert running.hub.transports.get("http").tls_port is None
    finally:
        await stop_hub(running)
    with pytest.raises(ConfigError, match="tls_port"):
        await Hub(hub_config(tmp_path / "d2", http={"tls_port": 0, "redirect_to_https": True})).open()
