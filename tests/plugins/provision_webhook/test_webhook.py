"""The pre-provisioning webhook against a real aiohttp receiver on a free loopback port:
the receiver checks the HMAC-SHA256 signature exactly as docs/pre-provision-hook.md shows,
sees no secret, and allows, denies or overrides; a slow, failing or unsigned-looking
answer follows the profile's fail mode (fail-closed by default, fail-open when set)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time

import pytest
from aiohttp import web

from gridlinks.core.config import DEFAULT_PLUGINS, HubConfig
from gridlinks.core.errors import ConfigError
from gridlinks.core.hub import Hub
from gridlinks.core.services.pre_provision import FAIL_MODE, FAIL_OPEN
from gridlinks.core.services.provisioning import FAILURE_BODY
from gridlinks.core.storage.models import Device
from tests.support import free_port, port_env, provision_named, start_hub, stop_hub

SECRET = "webhook-secret-for-tests"
ENV_NAME = "GRIDLINKS_TEST_HOOK_SECRET"


def verify(secret: bytes, headers, body: bytes, max_age_s: int = 300) -> bool:
    """The receiver's check (the snippet in docs/pre-provision-hook.md)."""
    timestamp = headers.get("X-GridLinks-Timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > max_age_s:
        return False
    expected = "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers.get("X-GridLinks-Signature", ""))


class Receiver:
    def __init__(self, secret: str):
        self.secret = secret.encode()
        self.mode = "allow"
        self.seen: list[dict] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(self.secret, request.headers, body):
            return web.json_response({"error": "bad signature"}, status=401)
        payload = json.loads(body)
        self.seen.append(payload)
        if self.mode == "slow":
            await asyncio.sleep(6)
        if self.mode == "error":
            return web.Response(status=500, text="boom")
        if self.mode == "garbage":
            return web.Response(text="not json")
        if self.mode == "deny":
            return web.json_response({"allow": False, "reason": "serial not in ERP"})
        if self.mode == "override":
            return web.json_response({"allow": True, "overrides": {
                "name": "erp-" + payload["deviceName"], "label": "from ERP", "attributes": {"erpId": 42}}})
        return web.json_response({"allow": True})


@pytest.fixture
async def receiver():
    receiver = Receiver(SECRET)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()


def _config(tmp_path, url: str, secret_ref: str = f"$env:{ENV_NAME}") -> HubConfig:
    raw = {"data_dir": str(tmp_path / "data"), "plugins": [*DEFAULT_PLUGINS, "provision_webhook"],
           "provision_webhook": {"url": url, "secret": secret_ref, "timeout_s": 2}}
    return HubConfig(raw, environ={**port_env(), ENV_NAME: SECRET})


@pytest.fixture
async def hooked(tmp_path, receiver):
    running = await start_hub(_config(tmp_path, receiver.url))
    running.profile = await running.hub.profiles.by_provision_key(running.key)
    try:
        yield running
    finally:
        await stop_hub(running)




async def test_webhook_allows_denies_overrides_with_a_verified_signature(hooked, receiver):
    body = await provision_named(hooked, "hook-1", credentialsType="ACCESS_TOKEN", token="device-token-1")
    assert body["status"] == "SUCCESS" and body["credentialsValue"] == "device-token-1"
    sent = receiver.seen[-1]
    assert sent["event"] == "pre_provision" and sent["deviceName"] == "hook-1" and sent["transport"] == "HTTP"
    assert sent["profile"]["name"] == hooked.profile.name
    text = json.dumps(sent)
    assert "device-token-1" not in text and hooked.secret not in text and "provisionDeviceSecret" not in text

    receiver.mode = "deny"
    assert await provision_named(hooked, "hook-2") == FAILURE_BODY
    assert not await Device.filter(name="hook-2").exists()
    status, page = await hooked.admin("GET", "/api/audit/logs?action=provision_failed")
    assert any("webhook: serial not in ERP" in (e.get("reason") or "") for e in page["data"]), page

    receiver.mode = "override"
    body = await provision_named(hooked, "hook-3")
    assert body["status"] == "SUCCESS" and body["deviceName"] == "erp-hook-3"
    device = await Device.get(name="erp-hook-3")
    assert device.label == "from ERP"


async def test_timeouts_and_errors_follow_the_fail_mode(hooked, receiver):
    for mode in ("slow", "error", "garbage"):
        receiver.mode = mode
        await hooked.hub.profiles.update(hooked.profile, config={})
        started = time.monotonic()
        assert await provision_named(hooked, f"closed-{mode}") == FAILURE_BODY, mode
        assert time.monotonic() - started < 5.5  # the 2 s timeout, not the receiver's 6 s
        await hooked.hub.profiles.update(hooked.profile, config={FAIL_MODE: FAIL_OPEN})
        assert (await provision_named(hooked, f"open-{mode}"))["status"] == "SUCCESS", mode
    status, page = await hooked.admin("GET", "/api/audit/logs?action=provision_failed")
    reasons = " ".join(e.get("reason") or "" for e in page["data"])
    assert "no answer within 2 s" in reasons and "HTTP 500" in reasons and "not JSON" in reasons


async def test_wrong_secret_is_refused_by_the_receiver(tmp_path, receiver):
    config = _config(tmp_path, receiver.url, secret_ref="not-the-receivers-secret")
    running = await start_hub(config)
    try:
        assert await provision_named(running, "bad-sig") == FAILURE_BODY  # receiver answers 401: fail-closed
        assert receiver.seen == []
    finally:
        await stop_hub(running)


async def test_url_without_secret_stops_start_up(tmp_path):
    raw = {"data_dir": str(tmp_path / "data"), "plugins": [*DEFAULT_PLUGINS, "provision_webhook"],
           "provision_webhook": {"url": "http://127.0.0.1:9/hook"}}
    hub = Hub(HubConfig(raw, environ=port_env()))
    with pytest.raises(ConfigError, match="provision_webhook.secret is required"):
        await hub.open()
    await hub.stop()
