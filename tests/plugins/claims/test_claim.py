"""Device claiming over HTTP: device-side and server-side keys, customer claim and
re-claim with the reference's status codes and bodies, and the rules we add beyond it."""

import asyncio
import json

from gridlinks.core.storage.models import now_ms
from tests.claim_support import (
    audit_outcomes,
    bind_to_gateway,
    claim,
    claim_hub,
    customer_user,
    gateway_profile,
    new_device,
    new_gateway,
    server_attributes,
    set_server_attributes,
)

NOT_FOUND_BODY = {"status": 404, "message": "Requested item wasn't found!", "errorCode": 32}
FORBIDDEN_BODY = {"status": 403, "message": "You don't have permission to perform this operation!", "errorCode": 20}


async def test_device_side_key_scenario(running_db):
    running = running_db
    device_id, token = await new_device(running, "Test Claiming Device")
    customer_id, user = await customer_user(running, "Customer A", "a@customer.test")
    status, body = await running.post(f"/api/v1/{token}/claim", json={"secretKey": "abc", "durationMs": 60000})
    assert (status, body) == (200, None)

    assert await claim(running, user, "Test Claiming Device", "wrong") == (400, "FAILURE")
    # A wrong secret does not erase the pending claim info (the reference's does).
    status, body = await claim(running, user, "Test Claiming Device", "abc")
    assert status == 200 and body["response"] == "SUCCESS", body
    assert body["device"]["id"]["id"] == device_id
    assert body["device"]["customerId"]["id"] == customer_id
    assert await claim(running, user, "Test Claiming Device", "abc") == (400, "CLAIMED")

    status, device = await running.admin("GET", f"/api/device/{device_id}")
    assert device["customerId"]["id"] == customer_id
    assert await audit_outcomes(running, "claim_registered") == ["SUCCESS"]
    assert await audit_outcomes(running, "device_claimed") == ["FAILURE", "SUCCESS", "CLAIMED"]
    status, logs = await running.admin("GET", "/api/audit/logs?action=device_claimed&outcome=FAILURE")
    row = logs["data"][0]
    assert row["reason"] == "wrong secret key" and row["actor"] == "a@customer.test"
    assert "abc" not in json.dumps(logs) and "wrong" not in json.dumps(row["details"])


async def test_server_side_key_scenario(running):
    device_id, _ = await new_device(running, "lora-1")
    _, user = await customer_user(running, "Customer A", "a@customer.test")
    await set_server_attributes(running, device_id, {
        "claimingData": {"secretKey": "box-secret", "expirationTime": now_ms() + 60_000}})
    assert await claim(running, user, "lora-1", "nope") == (400, "FAILURE")
    status, body = await claim(running, user, "lora-1", "box-secret")
    assert status == 200 and body["response"] == "SUCCESS", body
    assert "claimingData" not in await server_attributes(running, device_id)

    # The reference stores the attribute as JSON text; that works too.
    device_id, _ = await new_device(running, "lora-2")
    await set_server_attributes(running, device_id, {
        "claimingData": json.dumps({"secretKey": "s2", "expirationTime": now_ms() + 60_000})})
    assert (await claim(running, user, "lora-2", "s2"))[0] == 200


async def test_device_side_info_takes_precedence_over_claiming_data(running):
    device_id, token = await new_device(running, "both")
    _, user = await customer_user(running, "Customer A", "a@customer.test")
    await set_server_attributes(running, device_id, {
        "claimingData": {"secretKey": "server", "expirationTime": now_ms() + 60_000}})
    assert (await running.post(f"/api/v1/{token}/claim", json={"secretKey": "device"}))[0] == 200
    assert await claim(running, user, "both", "server") == (400, "FAILURE")
    assert (await claim(running, user, "both", "device"))[0] == 200


async def test_expired_claim_info_fails(running):
    device_id, token = await new_device(running, "short-lived")
    _, user = await customer_user(running, "Customer A", "a@customer.test")
    assert (await running.post(f"/api/v1/{token}/claim", json={"secretKey": "k", "durationMs": 150}))[0] == 200
    await asyncio.sleep(0.4)
    assert await claim(running, user, "short-lived", "k") == (400, "FAILURE")

    device_id, _ = await new_device(running, "server-expired")
    await set_server_attributes(running, device_id, {
        "claimingData": {"secretKey": "k", "expirationTime": now_ms() - 1}})
    assert await claim(running, user, "server-expired", "k") == (400, "FAILURE")
    # Without any claim info at all: FAILURE as well.
    await new_device(running, "never-registered")
    assert await claim(running, user, "never-registered", "") == (400, "FAILURE")


async def test_empty_secret_and_missing_body(running):
    """No secretKey and no body both mean the empty secret (a device that cannot show one)."""
    _, token = await new_device(running, "button")
    _, user = await customer_user(running, "Customer A", "a@customer.test")
    assert (await running.post(f"/api/v1/{token}/claim"))[0] == 200
    assert await claim(running, user, "button", "x") == (400, "FAILURE")
    status, body = await claim(running, user, "button")
    assert status == 200 and body["response"] == "SUCCESS"


async def test_default_duration_comes_from_config(tmp_path):
    async with claim_hub(tmp_path, duration_ms=5000) as running:
        device_id, token = await new_device(running, "dflt")
        assert (await running.post(f"/api/v1/{token}/claim", json={"secretKey": "s", "durationMs": 0}))[0] == 200
        device = await running.hub.devices.get(None, device_id)
        info = await running.hub.claiming.pending(device)
        assert info.secret == "s" and 4000 <= info.expiration_ms - now_ms() <= 5000


async def test_device_may_replace_its_own_claim_info(running):
    _, token = await new_device(running, "replacer")
    _, user = await customer_user(running, "Customer A", "a@customer.test")
    assert (await running.post(f"/api/v1/{token}/claim", json={"secretKey": "first"}))[0] == 200
    assert (await running.post(f"/api/v1/{token}/claim", json={"secretKey": "second"}))[0] == 200
    assert await claim(running, user, "replacer", "first") == (400, "FAILURE")
    assert (await claim(running, user, "replacer", "second"))[0] == 200


async def test_unknown_device_is_404(running):
    _, user = await customer_user(running, "Customer A", "a@customer.test")
    assert await claim(running, user, "no-such-device", "x") == (404, NOT_FOUND_BODY)
    status, body = await running.delete("/api/customer/device/no-such-device/claim", token=user)
    assert (status, body) == (404, NOT_FOUND_BODY)


async def test_claim_requires_login(running):
    await new_device(running, "d")
    status, body = await running.post("/api/customer/device/d/claim", json={"secretKey": "x"})
    assert status == 401 and body["errorCode"] == 10


async def test_device_side_bad_requests(running):
    _, token = await new_device(running, "bad")
    assert (await running.post("/api/v1/not-a-token/claim", json={}))[0] == 401
    status, body = await running.post(f"/api/v1/{token}/claim", data=b"{not json",
                                      headers={"Content-Type": "application/json"})
    assert status == 400 and "JSON" in body["message"]
    for payload in ([1], {"secretKey": 5}, {"durationMs": "soon"}, {"durationMs": True}):
        status, body = await running.post(f"/api/v1/{token}/claim", json=payload)
        assert status == 400, (payload, body)
    _, user = await customer_user(running, "Customer A", "a@customer.test")
    status, body = await running.post("/api/customer/device/bad/claim", data=b"[", token=user)
    assert status == 400 and body["errorCode"] == 31


async def test_claimed_device_cannot_register_claim_info(running):
    _, token = await new_device(running, "owned")
    _, user = await customer_user(running, "Customer A", "a@customer.test")
    assert (await running.post(f"/api/v1/{token}/claim", json={}))[0] == 200
    assert (await claim(running, user, "owned", ""))[0] == 200
    status, body = await running.post(f"/api/v1/{token}/claim", json={"secretKey": "again"})
    assert status == 400 and "already assigned" in body["message"]
    assert await audit_outcomes(running, "claim_registered") == ["SUCCESS", "FAILURE"]


async def test_claiming_allowed_rules_when_not_allowed_by_default(tmp_path):
    async with claim_hub(tmp_path, allow_claiming_by_default=False) as running:
        device_id, token = await new_device(running, "guarded")
        _, user = await customer_user(running, "Customer A", "a@customer.test")
        status, body = await running.post(f"/api/v1/{token}/claim", json={"secretKey": "s"})
        assert status == 403 and "not allowed" in body["message"]
        assert await claim(running, user, "guarded", "s") == (400, "FAILURE")

        await set_server_attributes(running, device_id, {"claimingAllowed": True})
        assert (await running.post(f"/api/v1/{token}/claim", json={"secretKey": "s"}))[0] == 200
        assert (await claim(running, user, "guarded", "s"))[0] == 200
        assert "claimingAllowed" not in await server_attributes(running, device_id)

        # Re-claim gives the device back and allows claiming again.
        status, body = await running.delete("/api/customer/device/guarded/claim", token=user)
        assert (status, body) == (200, None)
        assert (await server_attributes(running, device_id))["claimingAllowed"] is True
        status, device = await running.admin("GET", f"/api/device/{device_id}")
        assert device["customerId"]["id"] == "13814000-1dd2-11b2-8080-808080808080"
        assert (await running.post(f"/api/v1/{token}/claim", json={"secretKey": "t"}))[0] == 200


async def test_explicit_claiming_allowed_false_refuses(running):
    device_id, token = await new_device(running, "locked-by-admin")
    await set_server_attributes(running, device_id, {"claimingAllowed": False})
    assert (await running.post(f"/api/v1/{token}/claim", json={}))[0] == 403


async def test_caller_lockout_covers_guessing_device_names(tmp_path):
    async with claim_hub(tmp_path, max_failed_attempts=2, lockout_s=30) as running:
        _, token = await new_device(running, "real")
        _, user = await customer_user(running, "Customer A", "a@customer.test")
        assert (await running.post(f"/api/v1/{token}/claim", json={}))[0] == 200
        assert (await claim(running, user, "guess-1", ""))[0] == 404
        assert (await claim(running, user, "guess-2", ""))[0] == 404
        async with running.session.post(running.base_url + "/api/customer/device/real/claim",
                                        headers={"X-Authorization": f"Bearer {user}"}) as r:
            assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
            assert "from this user" in (await r.json())["message"]


async def test_reclaim_only_by_owning_customer_or_tenant_admin(running_db):
    running = running_db
    device_id, token = await new_device(running, "shared-name")
    _, user_a = await customer_user(running, "Customer A", "a@customer.test")
    _, user_b = await customer_user(running, "Customer B", "b@customer.test")
    # Nobody owns it yet: a customer user may not wipe its pending claim.
    assert (await running.post(f"/api/v1/{token}/claim", json={"secretKey": "s"}))[0] == 200
    status, body = await running.delete("/api/customer/device/shared-name/claim", token=user_b)
    assert (status, body) == (403, FORBIDDEN_BODY)
    assert (await claim(running, user_a, "shared-name", "s"))[0] == 200

    status, body = await running.delete("/api/customer/device/shared-name/claim", token=user_b)
    assert (status, body) == (403, FORBIDDEN_BODY)
    status, device = await running.admin("GET", f"/api/device/{device_id}")
    assert device["customerId"]["id"] != "13814000-1dd2-11b2-8080-808080808080"
    assert (await running.delete("/api/customer/device/shared-name/claim", token=user_a)) == (200, None)

    # A tenant admin may re-claim any device of the tenant.
    assert (await running.post(f"/api/v1/{token}/claim", json={"secretKey": "t"}))[0] == 200
    assert (await claim(running, user_b, "shared-name", "t"))[0] == 200
    assert (await running.delete("/api/customer/device/shared-name/claim", token=running.admin_token)) == (200, None)
    # Re-claim dropped the claim info: the old secret no longer works.
    assert await claim(running, user_a, "shared-name", "t") == (400, "FAILURE")
    assert await audit_outcomes(running, "device_reclaimed") == ["FORBIDDEN", "FORBIDDEN", "SUCCESS", "SUCCESS"]


async def test_concurrent_claims_have_one_winner(running):
    _, token = await new_device(running, "contested")
    _, user_a = await customer_user(running, "Customer A", "a@customer.test")
    _, user_b = await customer_user(running, "Customer B", "b@customer.test")
    assert (await running.post(f"/api/v1/{token}/claim", json={"secretKey": "s"}))[0] == 200
    results = await asyncio.gather(*(claim(running, u, "contested", "s") for u in (user_a, user_b) * 3))
    outcomes = sorted(r[1] if r[0] == 400 else r[1]["response"] for r in results)
    assert outcomes == ["CLAIMED"] * 5 + ["SUCCESS"], results


async def test_gateway_registers_claim_info_for_several_devices(running):
    gateway_id, _, is_gateway = await new_gateway(running, "gw", *await gateway_profile(running))
    assert is_gateway
    await new_device(running, "not-a-gateway")
    for name in ("sensor-1", "sensor-2", "sensor-3", "unbound"):
        device_id, _ = await new_device(running, name)
        if name != "unbound":
            await bind_to_gateway(running, device_id, gateway_id)
    _, user = await customer_user(running, "Customer A", "a@customer.test")
    hub = running.hub
    gateway = await hub.devices.get(None, gateway_id)
    results = await hub.claiming.register_for_gateway(gateway, {
        "sensor-1": {"secretKey": "one", "durationMs": 60000}, "sensor-2": {}, "sensor-3": {"secretKey": 7},
        "ghost": {"secretKey": "x"}, "unbound": {"secretKey": "x"}}, "MQTT")
    assert results["sensor-1"] == results["sensor-2"] == {"status": "SUCCESS"}
    assert results["sensor-3"]["status"] == "FAILURE" and "secretKey" in results["sensor-3"]["errorMsg"]
    assert results["ghost"]["status"] == "FAILURE"
    # Bound to no gateway: no gateway may speak for it.
    assert results["unbound"] == {"status": "FAILURE", "errorMsg": "device 'unbound' is not known to this gateway"}
    assert (await claim(running, user, "sensor-1", "one"))[0] == 200
    assert (await claim(running, user, "sensor-2", ""))[0] == 200
    assert await claim(running, user, "sensor-3", "") == (400, "FAILURE")
    assert await claim(running, user, "unbound", "x") == (400, "FAILURE")
    outcomes = await audit_outcomes(running, "claim_registered")
    assert sorted(outcomes) == ["FAILURE", "FAILURE", "FAILURE", "SUCCESS", "SUCCESS"]

    plain = await hub.devices.by_name(None, "not-a-gateway")
    try:
        await hub.claiming.register_for_gateway(plain, {"sensor-3": {}}, "MQTT")
    except Exception as exc:  # noqa: BLE001 - the type is what is checked
        assert type(exc).__name__ == "Forbidden"
    else:
        raise AssertionError("a plain device claimed for others")
