"""Dynamic registration ("one type, one secret", SPEC.md section 3, seeds/004) over real
MQTT connections on loopback: the seed's walk-through, then every refusal."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from gridlinks.core.storage.models import AuditEvent, Device
from tests.mqtt_wire import MqttWire
from tests.plugins.dynamic_registration.support import (
    DEVICE_SN,
    NOT_AUTHORISED,
    PRODUCT_SECRET,
    PRODUCT_SN,
    SUBACK_FAILURE,
    ask,
    login,
    password_of,
)
from tests.support import run_script, seed_python_or_skip


async def audit(hub, action: str) -> list[AuditEvent]:
    return list(await AuditEvent.filter(action=action).order_by("id"))


async def test_seed_walkthrough(hub_db, caplog):
    """The seed's steps: restricted login, password request, reply, static login, telemetry."""
    hub = hub_db
    caplog.set_level(logging.DEBUG)
    client, rc = await MqttWire.connect(hub.mqtt_port, client_id="70ly1tvowt696r15.112233445566",
                                        username="70ly1tvowt696r15|112233445566|2", password="sqx0cltqba402z7z")
    assert rc == 0
    assert await client.subscribe("/$system/70ly1tvowt696r15/112233445566/password_reply") == 0
    await client.publish("/$system/70ly1tvowt696r15/112233445566/password", '{\n "RequestID": "100"\n}\n')
    topic, payload, qos = await client.message()
    reply = json.loads(payload)
    assert topic == "/$system/70ly1tvowt696r15/112233445566/password_reply" and qos == 0
    assert list(reply) == ["RetCode", "RequestID", "Password"]
    assert reply["RetCode"] == "0" and reply["RequestID"] == "100"
    secret = reply["Password"]
    assert len(secret) == 20 and secret.isalnum()
    assert await client.closed_by_server()  # dynamic_registration.close_delay_s after the reply
    await client.close()

    device, rc = await MqttWire.connect(hub.mqtt_port, client_id="70ly1tvowt696r15.112233445566",
                                        username="70ly1tvowt696r15|112233445566|1", password=secret)
    assert rc == 0
    await device.publish("v1/devices/me/telemetry", json.dumps({"temperature": 21.5}), qos=1)
    assert await device.subscribe("v1/devices/me/attributes/response/+", qos=1) == 1
    await device.publish("v1/devices/me/attributes/request/1", "{}", qos=1)
    assert (await device.message())[0] == "v1/devices/me/attributes/response/1"  # handled in order: telemetry saved
    await device.close()
    latest = await hub.hub.devices.latest_telemetry(hub.device)
    assert latest["temperature"][0]["value"] == 21.5

    assert [e.device_name for e in await audit(hub, "device_password_issued")] == [DEVICE_SN]
    assert [e.device_name for e in await audit(hub, "device_activated")] == [DEVICE_SN]
    rows = await AuditEvent.all()
    assert rows and all(secret not in json.dumps(r.details) + r.reason for r in rows)
    # The hub's own logs and the broker's (the database driver's DEBUG lines echo SQL parameters).
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("tortoise", "aiosqlite")))
    assert secret not in ours and PRODUCT_SECRET not in ours


async def test_same_secret_until_first_login_then_refused(hub):
    first = await password_of(hub)
    assert await password_of(hub) == first  # the reply was lost? Ask again: the same secret
    assert [e.details["resent"] for e in await audit(hub, "device_password_issued")] == [False, True]
    device, rc = await login(hub, 1, first)
    assert rc == 0
    await device.close()
    reply, client = await ask(hub)
    assert reply == {"RetCode": "5", "RequestID": "100", "Message": "the device is already activated; "
                     "an admin must reset it before it can register again"}
    assert await client.closed_by_server()
    await client.close()
    device, rc = await login(hub, 1, first)  # the secret it has keeps working
    assert rc == 0
    await device.close()
    refused = await audit(hub, "device_password_refused")
    assert [(e.outcome, e.details["ret_code"], e.device_name) for e in refused] == [("FAILURE", "5", DEVICE_SN)]


async def test_concurrent_first_requests_get_one_secret(hub):
    secrets = await asyncio.gather(*(password_of(hub) for _ in range(4)))
    assert len(set(secrets)) == 1


@pytest.mark.parametrize("username_product, password", [("70ly1tvowt696r15", "wrong-secret"),
                                                        ("70ly1tvowt696r15", ""), ("unknownproduct", PRODUCT_SECRET)])
async def test_wrong_product_credentials_are_refused_at_connect(hub, username_product, password):
    client, rc = await login(hub, 2, password, product_sn=username_product)
    assert client is None and rc == NOT_AUTHORISED
    reasons = [e.reason for e in await audit(hub, "registration_login_refused")]
    assert reasons == ["ProductSecret does not match" if username_product == PRODUCT_SN else "unknown ProductSN"]


@pytest.mark.parametrize("authmode", [1, 2])
@pytest.mark.parametrize("client_id", ["", "70ly1tvowt696r15.999999", "70ly1tvowt696r15|112233445566", "other"])
async def test_client_id_must_match_the_user_name(hub, authmode, client_id):
    password = PRODUCT_SECRET if authmode == 2 else await hub.hub.services["dynamic_registration"].set_secret(
        hub.device, None, "test")
    client, rc = await login(hub, authmode, password, client_id=client_id)
    assert client is None and rc == NOT_AUTHORISED
    assert [e.reason for e in await audit(hub, "registration_login_refused")] == [
        "ClientID is not ${ProductSN}.${DeviceSN}"]


async def test_device_not_on_the_whitelist(hub):
    other = await hub.hub.profiles.create(hub.tenant, "Other product", "CHECK_PRE_PROVISIONED_DEVICES")
    await hub.hub.devices.create(hub.tenant, other, "AABBCCDDEEFF")  # whitelisted, but in another product
    for sn in ("000000000000", "AABBCCDDEEFF"):
        reply, client = await ask(hub, sn)
        assert reply == {"RetCode": "3", "RequestID": "100", "Message": "DeviceSN is not on this product's whitelist"}
        assert await client.closed_by_server()
        await client.close()
    assert not await Device.filter(name="000000000000").exists()


async def test_switch_off_refuses_requests_but_not_registered_devices(hub):
    secret = await password_of(hub)
    service = hub.hub.services["dynamic_registration"]
    await service.switch(hub.product, False, "test")
    await hub.hub.devices.create(hub.tenant, hub.product, "newdevice01")
    reply, client = await ask(hub, "newdevice01")
    assert reply == {"RetCode": "2", "RequestID": "100",
                     "Message": "dynamic registration is switched off for this product"}
    await client.close()
    device, rc = await login(hub, 1, secret)  # already registered: still gets in
    assert rc == 0
    await device.close()


async def test_disabled_device(hub):
    secret = await password_of(hub)
    await Device.filter(id=hub.device.id).update(enabled=False)  # no service call disables a device yet
    reply, client = await ask(hub)
    assert reply == {"RetCode": "4", "RequestID": "100", "Message": "the device is disabled"}
    await client.close()
    client, rc = await login(hub, 1, secret)
    assert client is None and rc == NOT_AUTHORISED


@pytest.mark.parametrize("action, topic", [
    ("publish", "v1/devices/me/telemetry"),
    ("publish", "/$system/70ly1tvowt696r15/AABBCCDDEEFF/password"),  # another device's request topic
    ("publish", "/$system/70ly1tvowt696r15/112233445566/password_reply"),
    ("subscribe", "/$system/70ly1tvowt696r15/AABBCCDDEEFF/password_reply"),
    ("subscribe", "/$system/70ly1tvowt696r15/112233445566/+"),
    ("subscribe", "#"),
    ("subscribe", "v1/devices/me/attributes"),
])
async def test_restricted_session_may_touch_nothing_else(hub, action, topic):
    client, rc = await login(hub, 2, PRODUCT_SECRET)
    assert rc == 0
    if action == "publish":
        await client.publish(topic, json.dumps({"RequestID": "1"}))
    else:
        assert await client.subscribe(topic) in (SUBACK_FAILURE, None)
    assert await client.closed_by_server()
    await client.close()
    assert not await audit(hub, "device_password_issued")


@pytest.mark.parametrize("payload, request_id", [(b"not json", ""), (b'["RequestID"]', ""),
                                                 (b'{"RequestID": {"a": 1}}', "")])
async def test_malformed_request(hub, payload, request_id):
    reply, client = await ask(hub, payload=payload)
    assert reply["RetCode"] == "1" and reply["RequestID"] == request_id and "JSON object" in reply["Message"]
    await client.close()


async def test_request_id_is_echoed_as_sent(hub):
    reply, client = await ask(hub, payload=b'{"RequestID": 7}')
    assert reply["RetCode"] == "0" and reply["RequestID"] == 7
    await client.close()
    reply, client = await ask(hub, payload=b"{}")
    assert reply["RetCode"] == "0" and reply["RequestID"] == ""
    await client.close()


@pytest.mark.parametrize("username", ["70ly1tvowt696r15|112233445566|3", "70ly1tvowt696r15|112233445566",
                                      "|112233445566|1", "70ly1tvowt696r15||2", "a|b|c|1"])
async def test_malformed_user_names_are_refused(hub, username):
    client, rc = await MqttWire.connect(hub.mqtt_port, client_id="70ly1tvowt696r15.112233445566",
                                        username=username, password=PRODUCT_SECRET)
    assert client is None and rc == NOT_AUTHORISED


async def test_authmode_1_refusals(hub):
    secret = await password_of(hub)
    for device_sn, password in ((DEVICE_SN, "wrong-device-secret"), (DEVICE_SN, PRODUCT_SECRET),
                                ("000000000000", secret)):
        client, rc = await login(hub, 1, password, device_sn)
        assert client is None and rc == NOT_AUTHORISED
    reasons = [e.reason for e in await audit(hub, "registration_login_refused")]
    assert reasons == ["device secret does not match"] * 2 + ["DeviceSN is not in this product"]


PAHO_DEVICE = r'''
"""A device written against the seed with paho-mqtt 1.6.1: ask for the password
(authmode 2), then log in with it (authmode 1) and send telemetry."""
import json

import paho.mqtt.client as mqtt

host, port = input("host: "), int(input("port: "))
product_sn, product_secret, device_sn = input("ProductSN: "), input("ProductSecret: "), input("DeviceSN: ")
client_id = f"{product_sn}.{device_sn}"
reply = {}


def on_connect(client, userdata, flags, rc):
    print("authmode 2 CONNACK", rc, flush=True)
    if rc != 0:
        client.disconnect()
        return
    client.subscribe(f"/$system/{product_sn}/{device_sn}/password_reply", qos=1)


def on_subscribe(client, userdata, mid, granted_qos):
    client.publish(f"/$system/{product_sn}/{device_sn}/password", json.dumps({"RequestID": "100"}), qos=1)


def on_message(client, userdata, msg):
    reply.update(json.loads(msg.payload))
    client.disconnect()


dynamic = mqtt.Client(client_id=client_id)
dynamic.username_pw_set(f"{product_sn}|{device_sn}|2", product_secret)
dynamic.on_connect, dynamic.on_subscribe, dynamic.on_message = on_connect, on_subscribe, on_message
dynamic.connect(host, port)
dynamic.loop_forever()
print("REPLY", json.dumps(reply), flush=True)


def on_connect_static(client, userdata, flags, rc):
    print("authmode 1 CONNACK", rc, flush=True)
    if rc != 0:
        client.disconnect()
        return
    client.publish("v1/devices/me/telemetry", json.dumps({"temperature": 22.5}), qos=1)


def on_publish(client, userdata, mid):
    print("TELEMETRY ACKED", flush=True)
    client.disconnect()


static = mqtt.Client(client_id=client_id)
static.username_pw_set(f"{product_sn}|{device_sn}|1", reply.get("Password", ""))
static.on_connect, static.on_publish = on_connect_static, on_publish
static.connect(host, port)
static.loop_forever()
'''


async def test_paho_device_walks_the_seed(hub, tmp_path):
    """The same steps from a stock MQTT client library, as device firmware would take them."""
    python = seed_python_or_skip()
    script = tmp_path / "dynamic_device.py"
    script.write_text(PAHO_DEVICE)
    rc, out = await run_script(script, ["127.0.0.1", str(hub.mqtt_port), PRODUCT_SN, PRODUCT_SECRET, DEVICE_SN],
                               tmp_path, python=python, timeout=60.0)
    assert rc == 0, out
    assert "authmode 2 CONNACK 0" in out and "authmode 1 CONNACK 0" in out and "TELEMETRY ACKED" in out, out
    reply = json.loads(out.split("REPLY ", 1)[1].splitlines()[0])
    assert list(reply) == ["RetCode", "RequestID", "Password"] and reply["RetCode"] == "0"
    for _ in range(50):  # bounded: the acknowledged telemetry is committed within moments
        latest = await hub.hub.devices.latest_telemetry(hub.device)
        if latest:
            break
        await asyncio.sleep(0.1)
    assert latest["temperature"][0]["value"] == 22.5


async def test_reset_ends_sessions_opened_with_the_old_secret(hub):
    secret = await password_of(hub)
    device, rc = await login(hub, 1, secret)
    assert rc == 0
    status, _ = await hub.delete(f"/api/dynamicRegistration/device/{hub.device.id}", token=hub.admin_token)
    assert status == 200
    assert await device.closed_by_server()
    await device.close()
    _, rc = await login(hub, 1, secret)
    assert rc == NOT_AUTHORISED
