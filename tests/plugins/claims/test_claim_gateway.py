"""Gateways and claiming (issue 11, finding 6): a device is a gateway only where its
profile allows gateways; a gateway sends claim info (MQTT ``v1/gateway/claim``) only for
devices the tenant bound to it (server attribute ``lastConnectedGateway``), and never
replaces claim info the device or the tenant set. Checked on the wire: provisioning over
HTTP, the gateway over MQTT, the claim over REST."""

import asyncio
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridlinks.core.errors import HubError
from gridlinks.core.storage.models import now_ms
from tests.claim_support import (
    audit_outcomes,
    bind_to_gateway,
    claim,
    customer_user,
    gateway_profile,
    new_device,
    new_gateway,
    set_server_attributes,
    wait_for_outcomes,
)
from tests.mqtt_wire import MqttWire

GATEWAY_CLAIM = "v1/gateway/claim"


def mqtt_port(running) -> int:
    return running.hub.transports.get("mqtt").settings.port


async def gateway_sends(running, token: str, claims: dict, events_before: int) -> list[str]:
    """Publish one gateway claim message (QoS 1) and wait until the hub has audited
    every device in it; the outcomes, in order. Returns [] if the hub closed the session
    (the publisher is not a gateway): nothing is registered then."""
    client, rc = await MqttWire.connect(mqtt_port(running), client_id="gw", username=token)
    assert rc == 0
    try:
        await client.publish(GATEWAY_CLAIM, json.dumps(claims), qos=0)
        if await client.closed_by_server(timeout=0.5):
            return []
    finally:
        await client.close()
    outcomes = await wait_for_outcomes(running, "claim_registered", events_before + len(claims))
    return outcomes[events_before:]


async def test_gateway_flag_ignored_unless_the_profile_allows_gateways(running):
    # The demo profile does not allow gateways: the request still succeeds, as a plain device.
    _, _, is_gateway = await new_gateway(running, "would-be-gw", running.key, running.secret)
    assert is_gateway is False
    _, _, is_gateway = await new_gateway(running, "real-gw", *await gateway_profile(running))
    assert is_gateway is True
    _, _, is_gateway = await new_gateway(running, "off-gw", *await gateway_profile(running, "Off", allow=False))
    assert is_gateway is False
    status, logs = await running.admin("GET", "/api/audit/logs?action=device_provisioned")
    said = {row["deviceName"]: row["details"].get("gateway") for row in logs["data"]}
    assert said["real-gw"] == "created"
    assert said["would-be-gw"] == said["off-gw"] == "ignored: profile does not allow gateways"


async def test_profile_allow_gateways_must_be_a_boolean(running):
    for value in ("true", 1, [], {}):
        status, body = await running.admin("POST", "/api/deviceProfile", {
            "name": f"bad-{value!r}", "provisionType": "ALLOW_CREATE_NEW_DEVICES",
            "profileData": {"provisionConfiguration": {"type": "ALLOW_CREATE_NEW_DEVICES", "allowGateways": value}}})
        assert status == 400 and "allowGateways" in body["message"], (value, body)


async def test_admin_created_gateway_stays_a_gateway(running):
    """Gateways the tenant creates itself (REST, CSV IS_GATEWAY) need no profile setting."""
    status, body = await running.admin("POST", "/api/device", {"name": "admin-gw", "additionalInfo": {"gateway": True}})
    assert status == 200 and body["additionalInfo"]["gateway"] is True, body


async def test_gateway_claim_hijack_is_refused(running):
    """The finding: an attacker with a profile key provisions a "gateway" and overwrites a
    victim's pending claim secret over v1/gateway/claim, then claims it."""
    victim_id, victim_token = await new_device(running, "victim")
    assert (await running.post(f"/api/v1/{victim_token}/claim", json={"secretKey": "owner-secret"}))[0] == 200
    _, owner = await customer_user(running, "Owner", "owner@customer.test")
    _, attacker = await customer_user(running, "Attacker", "mallory@customer.test")

    _, evil_token, is_gateway = await new_gateway(running, "evil-gw", running.key, running.secret)
    assert is_gateway is False
    # Not a gateway: the hub ends its session and keeps nothing.
    assert await gateway_sends(running, evil_token, {"victim": {"secretKey": "attacker-secret"}}, 1) == []
    assert await audit_outcomes(running, "claim_registered") == ["SUCCESS", "FAILURE"]

    assert await claim(running, attacker, "victim", "attacker-secret") == (400, "FAILURE")
    status, body = await claim(running, owner, "victim", "owner-secret")
    assert status == 200 and body["device"]["id"]["id"] == victim_id, body


async def test_a_real_gateway_speaks_only_for_devices_bound_to_it(running):
    gw_id, gw_token, _ = await new_gateway(running, "gw-1", *await gateway_profile(running))
    other_id, _, _ = await new_gateway(running, "gw-2", *await gateway_profile(running, "More gateways"))
    unbound_id, unbound_token = await new_device(running, "unbound")
    elsewhere_id, _ = await new_device(running, "elsewhere")
    await bind_to_gateway(running, elsewhere_id, other_id)
    mine_id, _ = await new_device(running, "mine")
    await bind_to_gateway(running, mine_id, gw_id)
    # A device cannot bind itself: its own (client-scope) attribute does not count.
    assert (await running.post(f"/api/v1/{unbound_token}/attributes", json={"lastConnectedGateway": gw_id}))[0] == 200
    _, user = await customer_user(running, "Customer A", "a@customer.test")

    outcomes = await gateway_sends(running, gw_token, {
        "unbound": {"secretKey": "x"}, "elsewhere": {"secretKey": "x"}, "mine": {"secretKey": "m"},
        "gw-1": {"secretKey": "x"}}, 0)
    assert sorted(outcomes) == ["FAILURE", "FAILURE", "FAILURE", "SUCCESS"]
    for name in ("unbound", "elsewhere", "gw-1"):
        assert await claim(running, user, name, "x") == (400, "FAILURE")
    assert (await claim(running, user, "mine", "m"))[0] == 200
    status, logs = await running.admin("GET", "/api/audit/logs?action=claim_registered&outcome=FAILURE")
    assert {row["reason"] for row in logs["data"]} == {
        f"device {name!r} is not known to this gateway" for name in ("unbound", "elsewhere", "gw-1")}


async def test_gateway_never_replaces_claim_info_of_the_device_or_the_tenant(running):
    gw_id, gw_token, _ = await new_gateway(running, "gw", *await gateway_profile(running))
    names = ("self-claimed", "server-key", "gateway-claimed", "expired-server-key")
    ids = {}
    for name in names:
        ids[name], token = await new_device(running, name)
        await bind_to_gateway(running, ids[name], gw_id)
        if name == "self-claimed":
            assert (await running.post(f"/api/v1/{token}/claim", json={"secretKey": "device-secret"}))[0] == 200
    await set_server_attributes(running, ids["server-key"], {
        "claimingData": {"secretKey": "tenant-secret", "expirationTime": now_ms() + 60_000}})
    await set_server_attributes(running, ids["expired-server-key"], {
        "claimingData": {"secretKey": "old", "expirationTime": now_ms() - 1}})
    _, user = await customer_user(running, "Customer A", "a@customer.test")

    first = await gateway_sends(running, gw_token, {name: {"secretKey": "gw-1"} for name in names}, 1)
    assert sorted(first) == ["FAILURE", "FAILURE", "SUCCESS", "SUCCESS"]
    # Its own info a gateway may replace (firmware re-sends after a button press).
    again = await gateway_sends(running, gw_token, {"gateway-claimed": {"secretKey": "gw-2"}}, 5)
    assert again == ["SUCCESS"]
    status, logs = await running.admin("GET", "/api/audit/logs?action=claim_registered&outcome=FAILURE")
    assert {row["deviceName"]: row["reason"] for row in logs["data"]} == {
        name: "device has claim info of its own; a gateway may not replace it"
        for name in ("self-claimed", "server-key")}

    for name in ("self-claimed", "server-key"):
        assert await claim(running, user, name, "gw-1") == (400, "FAILURE")
    assert (await claim(running, user, "self-claimed", "device-secret"))[0] == 200
    assert (await claim(running, user, "server-key", "tenant-secret"))[0] == 200
    assert await claim(running, user, "gateway-claimed", "gw-1") == (400, "FAILURE")
    assert (await claim(running, user, "gateway-claimed", "gw-2"))[0] == 200
    assert (await claim(running, user, "expired-server-key", "gw-1"))[0] == 200


async def test_the_device_may_replace_what_its_gateway_sent(running):
    gw_id, gw_token, _ = await new_gateway(running, "gw", *await gateway_profile(running))
    device_id, token = await new_device(running, "child")
    await bind_to_gateway(running, device_id, gw_id)
    _, user = await customer_user(running, "Customer A", "a@customer.test")
    assert await gateway_sends(running, gw_token, {"child": {"secretKey": "from-gw"}}, 0) == ["SUCCESS"]
    assert (await running.post(f"/api/v1/{token}/claim", json={"secretKey": "from-device"}))[0] == 200
    assert await claim(running, user, "child", "from-gw") == (400, "FAILURE")
    assert (await claim(running, user, "child", "from-device"))[0] == 200


async def test_binding_values_that_are_not_a_gateway_id_bind_nothing(running):
    gw_id, _, _ = await new_gateway(running, "gw", *await gateway_profile(running))
    gateway = await running.hub.devices.get(None, gw_id)
    for i, value in enumerate(["", "gw", gw_id.upper() + "x", 5, {"id": gw_id}, [gw_id], None, True]):
        device_id, _ = await new_device(running, f"d{i}")
        if value is not None:
            await set_server_attributes(running, device_id, {"lastConnectedGateway": value})
        result = await running.hub.claiming.register_for_gateway(gateway, {f"d{i}": {}}, "MQTT")
        assert result[f"d{i}"]["status"] == "FAILURE", value
    # The id in another spelling (upper case) is still the id.
    device_id, _ = await new_device(running, "upper")
    await bind_to_gateway(running, device_id, gw_id.upper())
    assert (await running.hub.claiming.register_for_gateway(gateway, {"upper": {}}, "MQTT")) == {
        "upper": {"status": "SUCCESS"}}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)


async def test_fuzzed_gateway_claims_answer_per_device_and_never_break(running):
    """Whatever a gateway sends, it gets a per-device answer or one refusal (a HubError),
    and claim info lands only on the device bound to it."""
    gw_id, _, _ = await new_gateway(running, "gw", *await gateway_profile(running))
    bound_id, _ = await new_device(running, "bound")
    await bind_to_gateway(running, bound_id, gw_id)
    await new_device(running, "free")
    gateway = await running.hub.devices.get(None, gw_id)
    free = await running.hub.devices.by_name(None, "free")
    loop = asyncio.get_running_loop()
    names = st.sampled_from(["bound", "free", "gw", "", "\ud800", "x" * 300]) | st.text(max_size=8)
    payloads = st.dictionaries(names, json_values, max_size=4) | json_values

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(payloads)
    def check(payload):
        async def once():
            try:
                result = await running.hub.claiming.register_for_gateway(gateway, payload, "MQTT")
            except HubError:
                return
            assert set(result) == set(payload)
            for name, answer in result.items():
                assert answer["status"] in ("SUCCESS", "FAILURE")
                assert answer["status"] == "FAILURE" or name == "bound"
        asyncio.run_coroutine_threadsafe(once(), loop).result(30)

    await loop.run_in_executor(None, check)
    assert await running.hub.claiming.pending(free) is None
