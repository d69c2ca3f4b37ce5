"""Shared steps of the claiming tests: a hub with chosen claim settings, customers and
their logged-in users, devices that can send claim info over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from tests.support import RunningHub, hub_config, start_hub, stop_hub

PASSWORD = "customer-password-1"


@contextlib.asynccontextmanager
async def claim_hub(tmp_path, **claim: Any):
    """A started hub whose ``claim`` section is ``claim`` on top of the defaults."""
    running = await start_hub(hub_config(tmp_path / "data", claim=claim))
    try:
        yield running
    finally:
        await stop_hub(running)


async def customer_user(running: RunningHub, customer: str, email: str) -> tuple[str, str]:
    """(customer id, JWT of a new user of that customer), creating the customer if needed."""
    status, page = await running.admin("GET", f"/api/customers?pageSize=100&textSearch={customer}")
    assert status == 200, page
    found = [c for c in page["data"] if c["title"] == customer]
    if found:
        customer_id = found[0]["id"]["id"]
    else:
        status, body = await running.admin("POST", "/api/customer", {"title": customer})
        assert status == 200, body
        customer_id = body["id"]["id"]
    status, body = await running.admin("POST", "/api/user", {
        "email": email, "authority": "CUSTOMER_USER", "customerId": {"id": customer_id}, "password": PASSWORD})
    assert status == 200, body
    return customer_id, await login(running, email)


async def login(running: RunningHub, email: str, password: str = PASSWORD) -> str:
    status, tokens = await running.post("/api/auth/login", json={"username": email, "password": password})
    assert status == 200, tokens
    return tokens["token"]


async def new_device(running: RunningHub, name: str, **extra: Any) -> tuple[str, str]:
    """(device id, access token) of a device provisioned through the demo profile."""
    status, body = await running.provision(deviceName=name, provisionDeviceKey=running.key,
                                           provisionDeviceSecret=running.secret, **extra)
    assert status == 200 and body["status"] == "SUCCESS", body
    return body["deviceId"], body["credentialsValue"]


async def gateway_profile(running: RunningHub, name: str = "Gateways", allow: bool = True) -> tuple[str, str]:
    """(provision key, secret) of a new ALLOW_CREATE_NEW_DEVICES profile, made over REST,
    whose ``allowGateways`` is ``allow``."""
    status, body = await running.admin("POST", "/api/deviceProfile", {
        "name": name, "provisionType": "ALLOW_CREATE_NEW_DEVICES",
        "profileData": {"provisionConfiguration": {"type": "ALLOW_CREATE_NEW_DEVICES", "allowGateways": allow}}})
    assert status == 200, body
    assert body["profileData"]["provisionConfiguration"]["allowGateways"] is allow
    return body["provisionDeviceKey"], body["profileData"]["provisionConfiguration"]["provisionDeviceSecret"]


async def new_gateway(running: RunningHub, name: str, key: str, secret: str) -> tuple[str, str, bool]:
    """(device id, access token, is it a gateway) of a device provisioned with ``"gateway": true``."""
    status, body = await running.provision(deviceName=name, provisionDeviceKey=key, provisionDeviceSecret=secret,
                                           gateway=True)
    assert status == 200 and body["status"] == "SUCCESS", body
    status, device = await running.admin("GET", f"/api/device/{body['deviceId']}")
    assert status == 200, device
    return body["deviceId"], body["credentialsValue"], device["additionalInfo"]["gateway"]


async def bind_to_gateway(running: RunningHub, device_id: str, gateway_id: str) -> None:
    """Record, as the tenant, that the device is connected through the gateway."""
    await set_server_attributes(running, device_id, {"lastConnectedGateway": gateway_id})


async def set_server_attributes(running: RunningHub, device_id: str, values: dict[str, Any]) -> None:
    status, body = await running.admin("POST", f"/api/plugins/telemetry/DEVICE/{device_id}/attributes/SERVER_SCOPE",
                                       values)
    assert status == 200, body


async def server_attributes(running: RunningHub, device_id: str) -> dict[str, Any]:
    status, body = await running.admin(
        "GET", f"/api/plugins/telemetry/DEVICE/{device_id}/values/attributes/SERVER_SCOPE")
    assert status == 200, body
    return {row["key"]: row["value"] for row in body}


async def claim(running: RunningHub, token: str, name: str, secret: str | None = None):
    body = None if secret is None else {"secretKey": secret}
    return await running.post(f"/api/customer/device/{name}/claim", json=body, token=token)


async def audit_outcomes(running: RunningHub, action: str) -> list[str]:
    status, body = await running.admin("GET", f"/api/audit/logs?action={action}&pageSize=100")
    assert status == 200, body
    return [row["outcome"] for row in reversed(body["data"])]


async def wait_for_outcomes(running: RunningHub, action: str, count: int, timeout_s: float = 10.0) -> list[str]:
    """The audit outcomes of ``action`` once there are ``count`` of them: a publish a
    client has seen acknowledged may still be in the hub's hands for a moment."""
    for _ in range(int(timeout_s / 0.05)):
        outcomes = await audit_outcomes(running, action)
        if len(outcomes) >= count:
            return outcomes
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} {action} events after {timeout_s} s: {outcomes}")
