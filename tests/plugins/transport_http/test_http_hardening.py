"""Issue 11, finding 2: inputs that made the HTTP API answer 5xx (or log a traceback).
One regression test per input found, then the last-resort error middleware."""

from __future__ import annotations

import asyncio
import json

import pytest

from gridlinks.core import hookimpl
from gridlinks.core.config import DEFAULT_PLUGINS
from tests.support import ADMIN_EMAIL, hub_config, start_hub, stop_hub

DEEP = b"[" * 5000 + b"]" * 5000
LONG = "k" * 300


async def _raw(running, request: bytes, body_chunk: bytes = b"") -> tuple[int, bytes]:
    """Send bytes as they are (headers aiohttp's client would refuse to send) and read the answer."""
    port = int(running.base_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request + body_chunk)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        status = int(head.split(b" ", 2)[1])
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        return status, await asyncio.wait_for(reader.readexactly(length), 30)
    finally:
        writer.close()


async def _device_token(running, name="hardening") -> str:
    status, body = await running.provision(deviceName=name, provisionDeviceKey=running.key,
                                           provisionDeviceSecret=running.secret)
    assert status == 200, body
    return body["credentialsValue"]


def _bad_params(status, body):
    return status == 400 and body["status"] == 400 and body["errorCode"] == 31 and body["message"]


@pytest.mark.parametrize("path", ["/api/v1/provision", "/api/auth/login", "/api/auth/token"])
async def test_deep_json_unauthenticated_is_400(running, no_tracebacks, path):
    status, body = await running.post(path, data=DEEP, headers={"Content-Type": "application/json"})
    assert _bad_params(status, body) and "nested deeper" in body["message"]


async def test_deep_json_on_device_and_admin_endpoints_is_400(running, no_tracebacks):
    token = await _device_token(running)
    for path, auth in [(f"/api/v1/{token}/telemetry", None), (f"/api/v1/{token}/attributes", None),
                       (f"/api/v1/{token}/claim", None), ("/api/device", running.admin_token),
                       ("/api/deviceProfile", running.admin_token), ("/api/customer", running.admin_token)]:
        status, body = await running.post(path, data=DEEP, token=auth)
        assert _bad_params(status, body), (path, status, body)


@pytest.mark.parametrize("payload", [b'{"t": NaN}', b'{"t": Infinity}', b'{"t": -Infinity}', b'{"t": 1e999}',
                                     b'{"\\ud800": 1}', b'{"t": "\\udc00"}'])
async def test_unstorable_telemetry_is_400(running, no_tracebacks, payload):
    token = await _device_token(running)
    status, body = await running.post(f"/api/v1/{token}/telemetry", data=payload)
    assert _bad_params(status, body)


async def test_lone_surrogate_device_name_is_refused_and_the_writer_keeps_working(running, no_tracebacks):
    status, body = await running.post("/api/v1/provision", data=json.dumps(
        {"deviceName": "\ud800", "provisionDeviceKey": running.key, "provisionDeviceSecret": "wrong"}))
    assert _bad_params(status, body)
    await _device_token(running, "after-the-surrogate")  # a later write still commits


async def test_over_long_provision_key_is_not_found(running, no_tracebacks):
    status, body = await running.provision(deviceName="x", provisionDeviceKey=LONG, provisionDeviceSecret="s")
    assert status == 200 and body["status"] == "NOT_FOUND"


async def test_over_long_login_name_is_400(running, no_tracebacks):
    status, body = await running.post("/api/auth/login", json={"username": LONG + "@x.test", "password": "p"})
    assert _bad_params(status, body) and "username" in body["message"]


async def test_over_long_attribute_keys_in_the_query_are_400(running, no_tracebacks):
    token = await _device_token(running)
    for param in ("clientKeys", "sharedKeys"):
        status, body = await running.get(f"/api/v1/{token}/attributes?{param}={LONG}")
        assert _bad_params(status, body), param


async def test_infinite_claim_duration_is_400(running, no_tracebacks):
    token = await _device_token(running)
    status, body = await running.post(f"/api/v1/{token}/claim", data=b'{"secretKey": "s", "durationMs": Infinity}')
    assert _bad_params(status, body)


@pytest.mark.parametrize("header", [b"X-Authorization", b"Authorization"])
async def test_non_ascii_bearer_token_is_401(running, no_tracebacks, header):
    status, body = await _raw(running, b"GET /api/auth/user HTTP/1.1\r\nHost: x\r\n" + header +
                              b": Bearer \xc3\xa9t\xc3\xa9.token\r\nConnection: close\r\n\r\n")
    assert status == 401 and json.loads(body)["errorCode"] == 10


async def test_non_ascii_refresh_token_is_401(running, no_tracebacks):
    status, body = await running.post("/api/auth/token", json={"refreshToken": "été"})
    assert status == 401


async def test_non_ascii_dashboard_cookie_is_a_sign_in_page(running, no_tracebacks):
    status, _ = await _raw(running, b"GET /ui/ HTTP/1.1\r\nHost: x\r\nCookie: gl_session=\xc3\xa9\r\n"
                                    b"Connection: close\r\n\r\n")
    assert status in (200, 303)


async def test_sign_in_redirect_of_a_huge_query_stays_short(running, no_tracebacks):
    async with running.session.get(running.base_url + "/ui/devices?q=" + "x" * 6000, allow_redirects=False) as r:
        assert r.status == 303 and len(r.headers["Location"]) < 3000


async def test_device_profile_without_a_name_is_400(running, no_tracebacks):
    status, body = await running.admin("POST", "/api/deviceProfile", {"description": "no name"})
    assert _bad_params(status, body) and "name" in body["message"]


@pytest.mark.parametrize("path", ["/api/deviceProfiles", "/api/tenant/devices", "/api/customers", "/api/audit/logs"])
async def test_absurd_page_number_is_400(running, no_tracebacks, path):
    status, body = await running.get(f"{path}?page={2**70}&pageSize=10", token=running.admin_token)
    assert _bad_params(status, body)


async def test_over_long_static_file_name_is_404(running, no_tracebacks):
    status, _ = await running.get("/ui/static/" + "a" * 300 + ".css")
    assert status == 404


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/v1/provision"])
async def test_huge_unauthenticated_body_is_413_before_it_is_read(running, no_tracebacks, path):
    """Content-Length says 60 MB; only 1 KB is sent, and the answer comes anyway."""
    status, body = await _raw(running, f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                       f"Content-Length: 60000000\r\n\r\n".encode(), b'{"username": "' + b"a" * 1024)
    assert status == 413 and json.loads(body)["status"] == 413


async def test_large_dashboard_sign_in_body_is_413_before_it_is_read(running, no_tracebacks):
    """10 MB: under the dashboard's upload limit (for signed-in bulk import), far over the
    unauthenticated one; only 1 KB is sent."""
    status, _ = await _raw(running, b"POST /ui/login HTTP/1.1\r\nHost: x\r\n"
                                    b"Content-Type: application/x-www-form-urlencoded\r\n"
                                    b"Content-Length: 10000000\r\n\r\n", b"username=" + b"a" * 1024)
    assert status == 413


async def test_huge_chunked_login_body_is_413(running, no_tracebacks):
    async def chunks():
        for _ in range(100):
            yield b"a" * 65536

    status, body = await running.post("/api/auth/login", data=chunks())
    assert status == 413


@pytest.mark.parametrize("query", ["deviceName=" + LONG, "deviceProfileId=not-a-uuid", "textSearch=" + LONG * 2])
async def test_device_list_queries_are_checked(running, no_tracebacks, query):
    status, body = await running.get(f"/api/tenant/devices?{query}", token=running.admin_token)
    assert status in (400, 404) and body["status"] == status


@pytest.mark.parametrize("query", ["startTime=" + "9" * 30, "deviceId=nope", "action=" + LONG, "outcome=" + LONG])
async def test_audit_queries_are_checked(running, no_tracebacks, query):
    status, body = await running.get(f"/api/audit/logs?{query}", token=running.admin_token)
    assert _bad_params(status, body)


async def test_timeseries_bounds_are_checked(running, no_tracebacks):
    await _device_token(running)  # provisions the "hardening" device whose timeseries are queried
    status, device = await running.get("/api/tenant/devices?deviceName=hardening", token=running.admin_token)
    assert status == 200, device
    base = f"/api/plugins/telemetry/DEVICE/{device['id']['id']}/values/timeseries?keys=t"
    for query in ("&startTs=" + "9" * 30, "&startTs=0&endTs=" + "9" * 30, "&startTs=0&limit=-1"):
        status, body = await running.get(base + query, token=running.admin_token)
        assert _bad_params(status, body), query


@pytest.mark.parametrize("path, body", [
    ("/api/device", {"name": LONG}), ("/api/device", {"name": "ok", "label": LONG}),
    ("/api/device", {"name": 5}), ("/api/deviceProfile", {"name": LONG}),
    ("/api/deviceProfile", {"name": "p", "provisionDeviceKey": LONG}),
    ("/api/customer", {"title": LONG}), ("/api/customer", {}),
    ("/api/user", {"email": LONG, "password": "p"}), ("/api/role", {"name": LONG, "permissions": {}}),
    ("/api/userGroup", {"name": LONG}),
    ("/api/plugins/telemetry/DEVICE/00000000-0000-0000-0000-000000000000/SERVER_SCOPE", {LONG: 1}),
])
async def test_admin_bodies_are_validated_against_their_columns(running, no_tracebacks, path, body):
    status, reply = await running.admin("POST", path, body)
    assert status in (400, 404) and reply["status"] == status and reply["errorCode"] in (31, 32), reply


async def test_save_device_with_a_bad_access_token_is_400(running, no_tracebacks):
    status, reply = await running.post("/api/device?accessToken=" + "é" * 10, json={"name": "tok"},
                                       token=running.admin_token)
    assert _bad_params(status, reply)


async def test_login_still_answers_like_the_reference(running, no_tracebacks):
    status, tokens = await running.post("/api/auth/login", json={"username": ADMIN_EMAIL, "password": "wrong"})
    assert status == 401 and tokens["errorCode"] == 10
    status, tokens = await running.post("/api/auth/login", json={"username": 5, "password": "p"})
    assert _bad_params(status, tokens)


# -- the last resort ----------------------------------------------------------------------------


class Boom:
    """A plugin route with a bug in it."""

    @hookimpl
    def register_web_routes(self, hub, app):
        async def broken(request):
            raise RuntimeError("secret detail that must not reach the client")

        app.router.add_get("/api/boom/{token}", broken)


async def test_an_unexpected_error_is_a_bare_500_and_one_log_line(tmp_path, caplog):
    running = await start_hub(hub_config(tmp_path / "data", plugins=[*DEFAULT_PLUGINS, "boom"]),
                              extra_plugins={"boom": Boom()})
    try:
        caplog.clear()
        status, body = await running.get("/api/boom/device-secret-token")
        assert status == 500 and body == {"status": 500, "message": "Internal error", "errorCode": 2}
        errors = [r for r in caplog.records if r.levelno >= 40]
        assert len(errors) == 1 and errors[0].exc_info is None
        line = errors[0].getMessage()
        assert "RuntimeError" in line and "/api/boom/{token}" in line
        assert "device-secret-token" not in line and "secret detail" not in line
    finally:
        await stop_hub(running)


async def test_random_bytes_on_the_port_log_no_traceback(running, no_tracebacks):
    status, _ = await _raw(running, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n")
    assert status == 400
    status, _ = await _raw(running, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    assert status == 400



def test_other_json_parse_sites_share_the_limits():
    """The dashboard's attribute form, its claim statistics and the dynamic-registration
    login parse JSON too; deep nesting there was a RecursionError."""
    from gridlinks.plugins.dynamic_registration.login import parse_request
    from gridlinks.web.dashboard.devices import parse_value
    from gridlinks.web.dashboard.stats import claim_expiration

    assert parse_value("[" * 5000) == "[" * 5000 and parse_value("NaN") == "NaN" and parse_value("[1]") == [1]
    assert claim_expiration("[" * 5000) == 0 and claim_expiration('{"expirationTime": 5}') == 5
    assert parse_request(b"[" * 5000) == ("", False) and parse_request(b'{"RequestID": "7"}') == ("7", True)
