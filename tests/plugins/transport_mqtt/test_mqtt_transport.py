"""MQTT transport: provisioning sessions, device sessions, ACL, pushes, start-up."""

from __future__ import annotations

import asyncio
import json
import ssl

import pytest

from gridlinks.core.errors import StartupError
from gridlinks.core.hub import Hub
from tests.mqtt_wire import MqttWire
from tests.support import hub_config, start_hub, stop_hub, with_mqtt_ports

NOT_AUTHORISED = 5
SUBACK_FAILURE = 0x80


@pytest.fixture
async def hub(tmp_path):
    running = with_mqtt_ports(await start_hub(hub_config(tmp_path / "data", mqtt={"provision_close_delay_s": 0.2,
                                                                                   "connect_timeout_s": 0.5})))
    try:
        yield running
    finally:
        await stop_hub(running)


async def provision(hub, login_client_id: str = "", login_username: str | None = "provision", **request) -> dict:
    client, rc = await MqttWire.connect(hub.mqtt_port, client_id=login_client_id, username=login_username)
    assert rc == 0
    try:
        assert await client.subscribe("/provision/response", qos=1) == 1
        body = {"provisionDeviceKey": hub.key, "provisionDeviceSecret": hub.secret, **request}
        await client.publish("/provision/request", json.dumps(body), qos=1)
        topic, payload, qos = await client.message()
        assert topic == "/provision/response" and qos == 1
        return json.loads(payload)
    finally:
        await client.close()


async def device(hub, name: str) -> tuple[str, str]:
    """Provision ``name`` over MQTT: (access token, device id)."""
    reply = await provision(hub, deviceName=name)
    assert reply["status"] == "SUCCESS", reply
    return reply["credentialsValue"], reply["deviceId"]


async def test_provision_reply_then_session_closed(hub):
    client, rc = await MqttWire.connect(hub.mqtt_port, username="provision")
    assert rc == 0
    await client.subscribe("/provision/response")
    await client.publish("/provision/request", json.dumps(
        {"deviceName": "p1", "provisionDeviceKey": hub.key, "provisionDeviceSecret": hub.secret}))
    topic, payload, qos = await client.message()
    body = json.loads(payload)
    assert qos == 0 and body["status"] == "SUCCESS" and body["credentialsType"] == "ACCESS_TOKEN"
    assert list(body)[:3] == ["credentialsValue", "credentialsType", "status"] and body["deviceName"] == "p1"
    assert await client.closed_by_server()
    await client.close()
    status, page = await hub.admin("GET", "/api/audit/logs?action=device_provisioned")
    assert status == 200 and [(e["transport"], e["deviceName"]) for e in page["data"]] == [("MQTT", "p1")]


async def test_provision_by_client_id_and_refusals(hub):
    reply = await provision(hub, login_client_id="provision", login_username=None, deviceName="byclient")
    assert reply["status"] == "SUCCESS"
    assert (await provision(hub, deviceName="byclient"))["status"] == "FAILURE"  # name taken
    reply = await provision(hub, provisionDeviceSecret="wrong")
    assert reply == {"errorMsg": "Provision data was not found!", "status": "NOT_FOUND"}
    reply = await provision(hub, deviceName="  ")
    assert reply == {"errorMsg": "Failed to provision device!", "status": "FAILURE"}


async def test_provision_malformed_payload_gets_failure(hub):
    client, _ = await MqttWire.connect(hub.mqtt_port, username="provision")
    await client.subscribe("/provision/response")
    for payload in (b"\x08\x01 not json", b'["a list"]', b'{"provisionDeviceKey": "k"}'):
        await client.publish("/provision/request", payload)
        body = json.loads((await client.message())[1])
        assert body["status"] == "FAILURE" and body["errorMsg"].startswith("Failed to provision device!")
    await client.close()


async def test_concurrent_provisioning_each_session_gets_only_its_reply(hub):
    """Same client id, same topics, at once: each device sees exactly its own credentials."""
    clients = []
    for _ in range(6):
        client, rc = await MqttWire.connect(hub.mqtt_port, client_id="provision", username="provision")
        assert rc == 0
        await client.subscribe("/provision/response")
        clients.append(client)
    await asyncio.gather(*(c.publish("/provision/request", json.dumps(
        {"deviceName": f"conc-{i}", "provisionDeviceKey": hub.key, "provisionDeviceSecret": hub.secret}))
        for i, c in enumerate(clients)))
    for i, client in enumerate(clients):
        body = json.loads((await client.message())[1])
        assert body["status"] == "SUCCESS" and body["deviceName"] == f"conc-{i}"
    for client in clients:
        assert await client.closed_by_server()  # closed after the delay; nothing else arrived before
        assert client.messages.empty()
        await client.close()


@pytest.mark.parametrize("action", ["publish", "subscribe", "wildcard"])
async def test_provision_session_anything_else_closes_it(hub, action):
    client, _ = await MqttWire.connect(hub.mqtt_port, username="provision")
    if action == "publish":
        await client.publish("v1/devices/me/telemetry", '{"t": 1}')
    elif action == "subscribe":
        assert await client.subscribe("v1/devices/me/attributes") in (SUBACK_FAILURE, None)
    else:
        assert await client.subscribe("#") in (SUBACK_FAILURE, None)
    assert await client.closed_by_server()
    await client.close()


async def test_bad_credentials_get_connack_5(hub):
    token, _ = await device(hub, "cred-ok")
    for kwargs in ({"username": "no-such-token"}, {}, {"username": ""},
                   {"client_id": "x", "username": "u", "password": "p"}, {"username": token[:-1]}):
        client, rc = await MqttWire.connect(hub.mqtt_port, **kwargs)
        assert client is None and rc == NOT_AUTHORISED, kwargs
    client, rc = await MqttWire.connect(hub.mqtt_port, username=token)
    assert rc == 0
    await client.close()


async def test_silent_connection_is_closed(hub):
    """A socket that never sends its CONNECT does not hold a connection for ever."""
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.mqtt_port)
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    client, rc = await MqttWire.connect(hub.mqtt_port, username="provision")  # a prompt client is unaffected
    assert rc == 0
    await client.close()


async def test_mqtt5_accepted_and_other_protocol_levels_refused(hub):
    client, rc = await MqttWire.connect(hub.mqtt_port, username="provision", level=5)
    assert rc == 0
    await client.close()
    for level in (3, 6):  # MQTT 3.1, and a level from the future
        client, rc = await MqttWire.connect(hub.mqtt_port, username="provision", level=level)
        assert client is None and rc == (1 if level < 5 else 0x84)  # unacceptable protocol version


async def test_mqtt_basic_rules(hub):
    reply = await provision(hub, deviceName="basic-1", credentialsType="MQTT_BASIC",
                            clientId="cid-1", username="user-1", password="pw-1")
    assert reply["credentialsValue"] == {"clientId": "cid-1", "userName": "user-1", "password": "pw-1"}
    reply = await provision(hub, deviceName="basic-2", credentialsType="MQTT_BASIC", clientId="cid-only")
    assert reply["status"] == "SUCCESS"
    reply = await provision(hub, deviceName="basic-3", credentialsType="MQTT_BASIC", password="no-user")
    assert reply["status"] == "FAILURE"
    ok = [dict(client_id="cid-1", username="user-1", password="pw-1"), dict(client_id="cid-only")]
    bad = [dict(client_id="cid-1", username="user-1", password="wrong"),
           dict(client_id="cid-1", username="user-1"), dict(client_id="other", username="user-2", password="pw-1")]
    for kwargs in ok:
        client, rc = await MqttWire.connect(hub.mqtt_port, **kwargs)
        assert rc == 0, kwargs
        await client.publish("v1/devices/me/telemetry", '{"up": 1}', qos=1)
        await client.close()
    for kwargs in bad:
        assert (await MqttWire.connect(hub.mqtt_port, **kwargs))[1] == NOT_AUTHORISED, kwargs


async def test_telemetry_and_attributes_persist_and_attribute_request(hub):
    token, device_id = await device(hub, "tele-1")
    client, _ = await MqttWire.connect(hub.mqtt_port, username=token)
    await client.publish("v1/devices/me/telemetry", '{"temperature": 21.5}', qos=1)
    await client.publish("v1/devices/me/telemetry", '[{"ts": 1000, "values": {"humidity": 40}}]', qos=1)
    await client.publish("v1/devices/me/attributes", '{"fw": "1.2"}', qos=1)
    status, series = await hub.admin("GET", f"/api/plugins/telemetry/DEVICE/{device_id}/values/timeseries")
    assert status == 200 and series["temperature"][0]["value"] == 21.5 and series["humidity"][0]["ts"] == 1000
    await hub.admin("POST", f"/api/plugins/telemetry/DEVICE/{device_id}/attributes/SHARED_SCOPE", {"target": 7})
    assert await client.subscribe("v1/devices/me/attributes/response/+", qos=1) == 1
    await client.publish("v1/devices/me/attributes/request/5", '{"clientKeys": "fw", "sharedKeys": "target"}')
    topic, payload, _ = await client.message()
    assert topic == "v1/devices/me/attributes/response/5"
    assert json.loads(payload) == {"client": {"fw": "1.2"}, "shared": {"target": 7}}
    await client.publish("v1/devices/me/attributes/request/6", "{}")
    assert json.loads((await client.message())[1]) == {"client": {"fw": "1.2"}, "shared": {"target": 7}}
    await client.close()


async def test_shared_attributes_pushed_to_subscribed_session_of_that_device_only(hub):
    token_a, id_a = await device(hub, "push-a")
    token_b, _ = await device(hub, "push-b")
    a, _ = await MqttWire.connect(hub.mqtt_port, username=token_a)
    b, _ = await MqttWire.connect(hub.mqtt_port, username=token_b)
    unsubscribed, _ = await MqttWire.connect(hub.mqtt_port, username=token_a)
    for client in (a, b):
        assert await client.subscribe("v1/devices/me/attributes", qos=1) == 1
    status, _ = await hub.admin("POST", f"/api/plugins/telemetry/DEVICE/{id_a}/attributes/SHARED_SCOPE",
                                {"setpoint": 22})
    assert status == 200
    topic, payload, qos = await a.message()
    assert (topic, json.loads(payload), qos) == ("v1/devices/me/attributes", {"setpoint": 22}, 1)
    # a device's own attribute publish is stored, never relayed to other subscribers
    await b.publish("v1/devices/me/attributes", '{"leak": true}', qos=1)
    await hub.admin("POST", f"/api/plugins/telemetry/DEVICE/{id_a}/attributes/SERVER_SCOPE", {"hidden": 1})
    await hub.admin("POST", f"/api/plugins/telemetry/DEVICE/{id_a}/attributes/SHARED_SCOPE", {"setpoint": 23})
    assert json.loads((await a.message())[1]) == {"setpoint": 23}
    status, _ = await hub.delete(f"/api/plugins/telemetry/DEVICE/{id_a}/SHARED_SCOPE?keys=setpoint",
                                 token=hub.admin_token)
    assert status == 200
    assert json.loads((await a.message())[1]) == {"deleted": ["setpoint"]}
    assert a.messages.empty() and b.messages.empty() and unsubscribed.messages.empty()
    for client in (a, b, unsubscribed):
        await client.close()


async def test_device_session_acl(hub):
    token, _ = await device(hub, "acl-1")
    client, _ = await MqttWire.connect(hub.mqtt_port, username=token)
    for topic_filter in ("#", "v1/devices/+/attributes", "v1/devices/other/attributes", "/provision/response",
                         "$SYS/#", "v1/gateway/attributes"):
        assert await client.subscribe(topic_filter) == SUBACK_FAILURE, topic_filter
    assert await client.subscribe("v1/devices/me/rpc/request/+") == 0
    await client.publish("v1/devices/other/telemetry", '{"x": 1}')
    assert await client.closed_by_server()
    await client.close()


@pytest.mark.parametrize("payload", [b"not json", b'"a string"', b"[]", b'{"": 1}'])
async def test_bad_telemetry_closes_the_session(hub, payload):
    token, device_id = await device(hub, "bad-tele")
    client, _ = await MqttWire.connect(hub.mqtt_port, username=token)
    await client.publish("v1/devices/me/telemetry", payload)
    assert await client.closed_by_server()
    await client.close()
    client, rc = await MqttWire.connect(hub.mqtt_port, username=token)  # the hub is fine
    assert rc == 0
    await client.close()


async def test_session_limits_request_answered(hub):
    token, _ = await device(hub, "limits")
    client, _ = await MqttWire.connect(hub.mqtt_port, username=token)
    await client.subscribe("v1/devices/me/rpc/response/+")
    await client.publish("v1/devices/me/rpc/request/1", '{"method": "getSessionLimits", "params": {"timeout": 5000}}')
    topic, payload, _ = await client.message()
    body = json.loads(payload)
    assert topic == "v1/devices/me/rpc/response/1" and body["maxPayloadSize"] == hub.hub.settings.max_payload_bytes
    assert body["rateLimits"] == {} and body["maxInflightMessages"] >= 1
    await client.publish("v1/devices/me/rpc/request/2", '{"method": "somethingElse"}', qos=1)  # ignored, kept open
    await client.publish("v1/devices/me/telemetry", '{"ok": 1}', qos=1)
    await client.close()


async def test_payload_over_limit_closes_the_session(hub):
    token, _ = await device(hub, "big")
    client, _ = await MqttWire.connect(hub.mqtt_port, username=token)
    await client.publish("v1/devices/me/telemetry", json.dumps({"k": "x" * hub.hub.settings.max_payload_bytes}))
    assert await client.closed_by_server()
    await client.close()


async def test_deleted_device_session_is_closed(hub):
    token, device_id = await device(hub, "doomed")
    client, _ = await MqttWire.connect(hub.mqtt_port, username=token)
    status, _ = await hub.delete(f"/api/device/{device_id}", token=hub.admin_token)
    assert status == 200
    assert await client.closed_by_server()
    assert (await MqttWire.connect(hub.mqtt_port, username=token))[1] == NOT_AUTHORISED


async def test_tls_server_certificate_names_localhost_and_127(hub):
    cert = hub.hub.settings.data_dir / "tls" / "server.pem"
    for host in ("localhost", "127.0.0.1"):
        ctx = ssl.create_default_context(cafile=str(cert))
        client, rc = await MqttWire.connect(hub.mqtts_port, username="provision", ssl=ctx, server_hostname=host)
        assert rc == 0
        await client.close()
    # TLS without a client certificate and without credentials is refused by authentication
    ctx = ssl.create_default_context(cafile=str(cert))
    assert (await MqttWire.connect(hub.mqtts_port, ssl=ctx, server_hostname="localhost"))[1] == NOT_AUTHORISED


async def test_port_in_use_names_the_setting(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for key, env in (("port", "GRIDLINKS_MQTT_PORT"), ("tls_port", "GRIDLINKS_MQTTS_PORT")):
            hub = Hub(hub_config(tmp_path / key, mqtt={key: port}))
            with pytest.raises(StartupError) as err:
                await hub.start()
            assert f"mqtt.{key}" in str(err.value) and env in str(err.value) and str(port) in str(err.value)


async def test_own_certificate_is_used_and_kept(tmp_path):
    """A replaced certificate is used as is; a half-replaced pair stops start-up."""
    from gridlinks.plugins.transport_mqtt.certs import ensure_server_certificate

    cert, key = tmp_path / "own" / "c.pem", tmp_path / "own" / "k.pem"
    assert ensure_server_certificate(cert, key) is True
    before = cert.read_bytes()
    running = await start_hub(hub_config(tmp_path / "data", mqtt={"cert_file": str(cert), "key_file": str(key)}))
    try:
        port = running.hub.transports.get("mqtt").settings.tls_port
        ctx = ssl.create_default_context(cafile=str(cert))
        client, rc = await MqttWire.connect(port, username="provision", ssl=ctx, server_hostname="localhost")
        assert rc == 0
        await client.close()
    finally:
        await stop_hub(running)
    assert cert.read_bytes() == before and not (tmp_path / "data" / "tls").exists()
    key.unlink()
    with pytest.raises(StartupError, match="missing"):
        await Hub(hub_config(tmp_path / "data2", mqtt={"cert_file": str(cert), "key_file": str(key)})).start()


async def test_acknowledged_publishes_are_kept_when_the_client_disconnects(hub):
    """A device that publishes and hangs up at once loses nothing it was told was received."""
    from gridlinks.core.storage.models import TimeseriesValue

    token, device_id = await device(hub, "burst-1")
    client, _ = await MqttWire.connect(hub.mqtt_port, username=token)
    for i in range(20):
        await client.publish("v1/devices/me/telemetry", json.dumps({"n": i}), qos=1)
    await client.close()
    for _ in range(100):  # bounded: up to 10 s
        if await TimeseriesValue.filter(device_id=device_id, key="n").count() == 20:
            break
        await asyncio.sleep(0.1)
    assert sorted(await TimeseriesValue.filter(device_id=device_id, key="n").values_list("boxed", flat=True),
                  key=lambda b: b["v"]) == [{"v": i} for i in range(20)]
