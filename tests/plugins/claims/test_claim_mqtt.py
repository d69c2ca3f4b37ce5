"""Claim info over MQTT: ``v1/devices/me/claim`` with the outcome on
``v1/devices/me/claim/response``, and ``v1/gateway/claim`` for many devices at once."""

import json

from tests.claim_support import (
    bind_to_gateway,
    claim,
    claim_hub,
    customer_user,
    gateway_profile,
    new_device,
    new_gateway,
    set_server_attributes,
    wait_for_outcomes,
)
from tests.mqtt_wire import MqttWire

CLAIM = "v1/devices/me/claim"
RESPONSE = CLAIM + "/response"


def mqtt_port(running) -> int:
    return running.hub.transports.get("mqtt").settings.port


async def session(running, token: str, subscribe: bool = True) -> MqttWire:
    client, rc = await MqttWire.connect(mqtt_port(running), client_id="c", username=token)
    assert rc == 0
    if subscribe:
        assert await client.subscribe(RESPONSE, qos=1) == 1
    return client


async def send_claim(client: MqttWire, payload) -> dict:
    await client.publish(CLAIM, payload if isinstance(payload, (bytes, str)) else json.dumps(payload), qos=1)
    topic, body, _ = await client.message()
    assert topic == RESPONSE
    return json.loads(body)


async def test_device_claim_over_mqtt_with_response(running):
    _, token = await new_device(running, "mqtt-claim")
    _, user = await customer_user(running, "Customer A", "a@customer.test")
    client = await session(running, token)
    try:
        assert await send_claim(client, {"secretKey": "m1", "durationMs": 60000}) == {"status": "SUCCESS"}
        reply = await send_claim(client, b"{not json")
        assert reply["status"] == "FAILURE" and "JSON" in reply["errorMsg"]
        status, body = await claim(running, user, "mqtt-claim", "m1")
        assert status == 200 and body["response"] == "SUCCESS"
        reply = await send_claim(client, {})
        assert reply == {"status": "FAILURE", "errorMsg": "device is already assigned to a customer"}
        # Refusals do not end the session.
        assert not await client.closed_by_server(timeout=0.2)
    finally:
        await client.close()


async def test_refusal_without_subscription_is_audited_only(tmp_path):
    async with claim_hub(tmp_path, allow_claiming_by_default=False) as running:
        device_id, token = await new_device(running, "quiet")
        client = await session(running, token, subscribe=False)
        try:
            await client.publish(CLAIM, json.dumps({"secretKey": "x"}), qos=1)
            assert await wait_for_outcomes(running, "claim_registered", 1) == ["FAILURE"]
            await set_server_attributes(running, device_id, {"claimingAllowed": True})
            await client.publish(CLAIM, json.dumps({"secretKey": "x"}), qos=1)
            assert await wait_for_outcomes(running, "claim_registered", 2) == ["FAILURE", "SUCCESS"]
            assert not await client.closed_by_server(timeout=0.2)
            assert client.messages.empty()
        finally:
            await client.close()


async def test_gateway_claim_over_mqtt(running):
    gateway_id, gw_token, _ = await new_gateway(running, "gateway-1", *await gateway_profile(running))
    _, plain_token = await new_device(running, "plain")
    for name in ("child-a", "child-b"):
        device_id, _ = await new_device(running, name)
        await bind_to_gateway(running, device_id, gateway_id)
    _, user = await customer_user(running, "Customer A", "a@customer.test")
    client = await session(running, gw_token, subscribe=False)
    try:
        await client.publish("v1/gateway/claim", json.dumps({"child-a": {"secretKey": "a", "durationMs": 60000},
                                                             "child-b": {}, "missing": {}}), qos=1)
    finally:
        await client.close()
    assert sorted(await wait_for_outcomes(running, "claim_registered", 3)) == ["FAILURE", "SUCCESS", "SUCCESS"]
    assert (await claim(running, user, "child-a", "a"))[0] == 200
    assert (await claim(running, user, "child-b", ""))[0] == 200

    # A device that is not a gateway may not speak for others: its session ends.
    client = await session(running, plain_token, subscribe=False)
    try:
        await client.publish("v1/gateway/claim", json.dumps({"child-a": {}}), qos=0)
        assert await client.closed_by_server()
    finally:
        await client.close()
    status, logs = await running.admin("GET", "/api/audit/logs?action=claim_registered&outcome=FAILURE")
    reasons = {row["deviceName"]: row["reason"] for row in logs["data"]}
    assert "not known to this gateway" in reasons["missing"] and "only a gateway" in reasons["plain"]
