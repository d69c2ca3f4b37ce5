"""Issue 11, finding 1: six single inputs (three unauthenticated) used to leave the
group writer inside a transaction, so every later write failed until a restart while
/api/health said UP. Each is sent here over its real transport; afterwards the hub must
still provision, store telemetry and report UP."""

from __future__ import annotations

import json

import pytest
from aiocoap import Code, Context

from gridlinks.plugins.transport_mqtt.settings import MqttSettings
from tests.coap_client import CoapClient, coap_port
from tests.mqtt_wire import MqttWire

SURROGATE_NAME = '{"deviceName": "\\ud800", "provisionDeviceKey": "wrong", "provisionDeviceSecret": "wrong"}'
BIG_TS = '{"ts": 9223372036854775808, "values": {"t": 1}}'
SURROGATE_KEY = '{"\\ud800": 1}'


async def _still_writes(running, name: str) -> None:
    status, reply = await running.get("/api/health")
    assert status == 200 and reply == {"status": "UP"}, reply
    status, reply = await running.provision(deviceName=name, provisionDeviceKey=running.key,
                                            provisionDeviceSecret=running.secret)
    assert status == 200 and reply["status"] == "SUCCESS", reply
    token = reply["credentialsValue"]
    status, _ = await running.post(f"/api/v1/{token}/telemetry", json={"after": 1})
    assert status == 200


async def _token(running, name: str) -> str:
    status, reply = await running.provision(deviceName=name, provisionDeviceKey=running.key,
                                            provisionDeviceSecret=running.secret)
    assert reply["status"] == "SUCCESS", reply
    return reply["credentialsValue"]


@pytest.mark.parametrize("path,payload", [
    ("/api/v1/provision", SURROGATE_NAME),
    ("telemetry", BIG_TS),
    ("telemetry", SURROGATE_KEY),
])
async def test_http(running, path, payload):
    if path == "telemetry":
        path = f"/api/v1/{await _token(running, 'http-victim')}/telemetry"
    status, reply = await running.post(path, data=payload.encode(), headers={"Content-Type": "application/json"})
    assert status < 500, (status, reply)
    if path == "/api/v1/provision" and status == 200:
        assert reply["status"] in ("NOT_FOUND", "FAILURE"), reply
    elif path != "/api/v1/provision":
        assert status == 400, (status, reply)
    for attempt in range(2):  # and again: the writer must not be wedged by the first one
        await _still_writes(running, f"http-after-{attempt}")


@pytest.mark.parametrize("what", ["provision", "telemetry"])
async def test_coap(running, what):
    context = await Context.create_client_context(transports=["udp6"])
    try:
        coap = CoapClient(context, coap_port(running.hub))
        if what == "provision":
            response = await coap.request(Code.POST, "/api/v1/provision", payload=SURROGATE_NAME.encode())
        else:
            token = await _token(running, "coap-victim")
            response = await coap.request(Code.POST, f"/api/v1/{token}/telemetry", payload=BIG_TS.encode())
        assert response.code.is_successful() or response.code.class_ == 4, response
        if what == "telemetry":
            assert response.code == Code.BAD_REQUEST, response
    finally:
        await context.shutdown()
    await _still_writes(running, "coap-after")


@pytest.mark.parametrize("what", ["provision", "telemetry"])
async def test_mqtt(running, what):
    port = running.hub.config.section("mqtt", MqttSettings).port
    if what == "provision":
        client, rc = await MqttWire.connect(port, client_id="provision", username="provision")
        assert rc == 0
        await client.subscribe("/provision/response", 1)
        await client.publish("/provision/request", SURROGATE_NAME.encode(), qos=0)
        topic, payload, _ = await client.message()
        assert json.loads(payload)["status"] in ("NOT_FOUND", "FAILURE")
    else:
        token = await _token(running, "mqtt-victim")
        client, rc = await MqttWire.connect(port, client_id="victim", username=token)
        assert rc == 0
        await client.publish("v1/devices/me/telemetry", BIG_TS.encode(), qos=0)
        # MQTT 3.1.1 has no error reply: the hub ends the session that sent it
        assert await client.closed_by_server()
    await client.close()
    await _still_writes(running, "mqtt-after")
