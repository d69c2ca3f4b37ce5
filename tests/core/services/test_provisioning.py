"""SPEC.md section 1 outcomes over real HTTP, on SQLite and PostgreSQL: every strategy
x every credential type x success and each failure, plus the audit trail."""

import asyncio
import hashlib

import pytest

from gridlinks.core.storage.models import Attribute, AuditEvent, Device, DeviceCredentials
from tests.certs import pem_body, self_signed

NOT_FOUND = {"errorMsg": "Provision data was not found!", "status": "NOT_FOUND"}
FAILURE = {"errorMsg": "Failed to provision device!", "status": "FAILURE"}


async def make_profile(running, name, provision_type, key=None, secret=None):
    body = {"name": name, "provisionType": provision_type, "provisionDeviceKey": key,
            "profileData": {"provisionConfiguration": {"type": provision_type, "provisionDeviceSecret": secret}}}
    status, profile = await running.admin("POST", "/api/deviceProfile", body)
    assert status == 200, profile
    return profile


async def provision(running, key, secret, **extra):
    status, body = await running.provision(provisionDeviceKey=key, provisionDeviceSecret=secret, **extra)
    assert status == 200, body
    return body


async def last_failure_reason(running):
    row = await AuditEvent.filter(action="provision_failed").order_by("-id").first()
    return row.reason if row else None


@pytest.fixture
async def pre(running_db):
    """A CHECK_PRE_PROVISIONED_DEVICES profile with devices pre-added by bulk import."""
    profile = await make_profile(running_db, "Pre", "CHECK_PRE_PROVISIONED_DEVICES", "pre-key", "pre-secret")
    csv = "name,type,token,client,user,pass\npre-1,Pre,tok-pre-1,,,\npre-2,Pre,,cid-2,user-2,pw-2\npre-3,Pre,,,,\n"
    status, result = await running_db.admin("POST", "/api/device/bulk_import", {"file": csv, "mapping": {
        "columns": [{"type": "NAME"}, {"type": "TYPE"}, {"type": "ACCESS_TOKEN"}, {"type": "MQTT_CLIENT_ID"},
                    {"type": "MQTT_USER_NAME"}, {"type": "MQTT_PASSWORD"}], "header": True}})
    assert status == 200 and result == {"created": 3, "updated": 0, "errors": 0, "errorsList": []}
    return profile


# -- lookup rules (outcome 1 and 2) -------------------------------------------------------

async def test_blank_name_is_failure(running_db):
    body = await provision(running_db, running_db.key, running_db.secret, deviceName="   ")
    assert body == FAILURE
    assert await last_failure_reason(running_db) == "device name is blank"


@pytest.mark.parametrize("key, secret, reason", [
    ("", "x", "provision key or secret is empty"),
    ("KEY", "", "provision key or secret is empty"),
    ("no-such-key", "x", "no profile has this provision key"),
    (None, "wrong-secret", "provision secret does not match"),
])
async def test_unknown_key_or_wrong_secret_is_not_found(running_db, key, secret, reason):
    body = await provision(running_db, running_db.key if key is None else key, secret, deviceName="x")
    assert body == NOT_FOUND
    assert await last_failure_reason(running_db) == reason
    assert await Device.all().count() == 0


async def test_disabled_profile_is_not_found(running_db):
    await make_profile(running_db, "Off", "DISABLED", "off-key", "off-secret")
    assert await provision(running_db, "off-key", "off-secret", deviceName="x") == NOT_FOUND
    assert await last_failure_reason(running_db) == "provisioning is disabled in this profile"


# -- ALLOW_CREATE_NEW_DEVICES x credential types --------------------------------------------

async def test_allow_create_server_generated_token(running_db):
    body = await provision(running_db, running_db.key, running_db.secret, deviceName="gen-1")
    assert list(body)[:3] == ["credentialsValue", "credentialsType", "status"]
    assert body["status"] == "SUCCESS" and body["credentialsType"] == "ACCESS_TOKEN"
    assert len(body["credentialsValue"]) == 20 and body["credentialsValue"].isalnum()
    device = await Device.get(name="gen-1")
    assert body["deviceId"] == str(device.id) and body["deviceName"] == "gen-1"
    assert device.type == "Demo profile" and device.customer_id is None
    state = await Attribute.get(device_id=device.id, scope="SERVER_SCOPE", key="provisionState")
    assert state.value == "provisioned"


async def test_allow_create_without_name_generates_one(running_db):
    body = await provision(running_db, running_db.key, running_db.secret)
    assert body["status"] == "SUCCESS" and len(body["deviceName"]) == 20


async def test_allow_create_device_token(running_db):
    body = await provision(running_db, running_db.key, running_db.secret, deviceName="tok-1",
                           credentialsType="ACCESS_TOKEN", token="my-device-token")
    assert body["credentialsValue"] == "my-device-token"
    # the same token for another device: refused, nothing written
    body = await provision(running_db, running_db.key, running_db.secret, deviceName="tok-2",
                           credentialsType="ACCESS_TOKEN", token="my-device-token")
    assert body == FAILURE
    assert not await Device.filter(name="tok-2").exists()
    body = await provision(running_db, running_db.key, running_db.secret, deviceName="tok-3", token="bad token/")
    assert body == FAILURE


async def test_allow_create_mqtt_basic(running_db):
    body = await provision(running_db, running_db.key, running_db.secret, deviceName="mb-1",
                           credentialsType="MQTT_BASIC", clientId="c1", username="u1", password="p1")
    assert body["credentialsType"] == "MQTT_BASIC"
    assert body["credentialsValue"] == {"clientId": "c1", "userName": "u1", "password": "p1"}
    # tb-mqtt-client sends null for unset members: absent, not an error
    body = await provision(running_db, running_db.key, running_db.secret, deviceName="mb-2",
                           credentialsType="MQTT_BASIC", clientId="c2", username=None, password=None)
    assert body["status"] == "SUCCESS"
    assert body["credentialsValue"] == {"clientId": "c2", "userName": None, "password": None}


@pytest.mark.parametrize("fields, reason", [
    ({}, "MQTT_BASIC needs a clientId or a username"),
    ({"clientId": "c", "password": "p"}, "MQTT_BASIC password needs a username"),
])
async def test_allow_create_mqtt_basic_invalid(running_db, fields, reason):
    body = await provision(running_db, running_db.key, running_db.secret, deviceName="mb-x",
                           credentialsType="MQTT_BASIC", **fields)
    assert body == FAILURE
    assert await last_failure_reason(running_db) == reason
    assert await Device.all().count() == 0


async def test_allow_create_mqtt_basic_identity_unique(running_db):
    for name in ("mb-a", "mb-b"):
        body = await provision(running_db, running_db.key, running_db.secret, deviceName=name,
                               credentialsType="MQTT_BASIC", clientId="same", username="same")
    assert body == FAILURE
    assert await Device.all().count() == 1


@pytest.mark.parametrize("form", ["pem", "body"])
async def test_allow_create_x509(running_db, form):
    cert, _ = self_signed("x509-dev")
    given = cert if form == "pem" else pem_body(cert)
    body = await provision(running_db, running_db.key, running_db.secret, deviceName="x-1",
                           credentialsType="X509_CERTIFICATE", hash=given)
    assert body["status"] == "SUCCESS" and body["credentialsType"] == "X509_CERTIFICATE"
    assert body["credentialsValue"] == pem_body(cert)
    creds = await DeviceCredentials.get(credentials_type="X509_CERTIFICATE")
    assert creds.credentials_id == hashlib.sha3_256(pem_body(cert).encode()).hexdigest()


async def test_allow_create_x509_garbage_and_duplicate(running_db):
    body = await provision(running_db, running_db.key, running_db.secret, deviceName="x-bad",
                           credentialsType="X509_CERTIFICATE", hash="not a certificate")
    assert body == FAILURE
    assert (await last_failure_reason(running_db)).startswith("certificate cannot be parsed")
    cert, _ = self_signed()
    assert (await provision(running_db, running_db.key, running_db.secret, deviceName="x-a",
                            credentialsType="X509_CERTIFICATE", hash=cert))["status"] == "SUCCESS"
    assert await provision(running_db, running_db.key, running_db.secret, deviceName="x-b",
                           credentialsType="X509_CERTIFICATE", hash=cert) == FAILURE
    assert not await Device.filter(name="x-b").exists()


async def test_allow_create_existing_name_is_failure(running_db):
    assert (await provision(running_db, running_db.key, running_db.secret, deviceName="dup"))["status"] == "SUCCESS"
    assert await provision(running_db, running_db.key, running_db.secret, deviceName="dup") == FAILURE
    assert await last_failure_reason(running_db) == "a device with this name already exists"


async def test_unknown_credentials_type_is_failure(running_db):
    body = await provision(running_db, running_db.key, running_db.secret, deviceName="u", credentialsType="LWM2M")
    assert body == FAILURE
    assert "LWM2M" in await last_failure_reason(running_db)


# -- CHECK_PRE_PROVISIONED_DEVICES ------------------------------------------------------------

async def test_pre_provisioned_returns_existing_token(running_db, pre):
    body = await provision(running_db, "pre-key", "pre-secret", deviceName="pre-1",
                           credentialsType="ACCESS_TOKEN", token="ignored-token")
    assert body["status"] == "SUCCESS" and body["credentialsValue"] == "tok-pre-1"
    # once only
    assert await provision(running_db, "pre-key", "pre-secret", deviceName="pre-1") == FAILURE
    assert await last_failure_reason(running_db) == "device is already provisioned"


async def test_pre_provisioned_returns_existing_mqtt_basic(running_db, pre):
    body = await provision(running_db, "pre-key", "pre-secret", deviceName="pre-2")
    assert body["credentialsType"] == "MQTT_BASIC"
    assert body["credentialsValue"] == {"clientId": "cid-2", "userName": "user-2", "password": "pw-2"}


async def test_pre_provisioned_generated_token(running_db, pre):
    body = await provision(running_db, "pre-key", "pre-secret", deviceName="pre-3")
    assert body["status"] == "SUCCESS" and len(body["credentialsValue"]) == 20


async def test_pre_provisioned_unknown_or_other_profile(running_db, pre):
    assert await provision(running_db, "pre-key", "pre-secret", deviceName="stranger") == FAILURE
    assert await last_failure_reason(running_db) == "device is not pre-provisioned in this profile"
    await provision(running_db, running_db.key, running_db.secret, deviceName="elsewhere")
    assert await provision(running_db, "pre-key", "pre-secret", deviceName="elsewhere") == FAILURE
    assert await provision(running_db, "pre-key", "pre-secret") == FAILURE


async def test_pre_provisioned_concurrent_requests_succeed_once(running_db, pre):
    bodies = await asyncio.gather(*[provision(running_db, "pre-key", "pre-secret", deviceName="pre-3")
                                    for _ in range(20)])
    assert sum(b["status"] == "SUCCESS" for b in bodies) == 1


# -- races and audit ----------------------------------------------------------------------------

async def test_hundred_concurrent_requests_for_one_new_name(running_db):
    bodies = await asyncio.gather(*[provision(running_db, running_db.key, running_db.secret, deviceName="race")
                                    for _ in range(100)])
    assert sum(b["status"] == "SUCCESS" for b in bodies) == 1
    assert all(b == FAILURE for b in bodies if b["status"] != "SUCCESS")
    assert await Device.filter(name="race").count() == 1
    assert await DeviceCredentials.all().count() == 1
    assert await Attribute.filter(key="provisionState").count() == 1


async def test_every_outcome_is_audited(running_db):
    await provision(running_db, running_db.key, running_db.secret, deviceName="a1")
    await provision(running_db, running_db.key, "wrong", deviceName="a2")
    await provision(running_db, running_db.key, running_db.secret, deviceName="a1")
    rows = await AuditEvent.filter(action__in=["device_provisioned", "provision_failed"]).order_by("id")
    assert [(r.action, r.outcome, r.device_name) for r in rows] == [
        ("device_provisioned", "SUCCESS", "a1"), ("provision_failed", "NOT_FOUND", "a2"),
        ("provision_failed", "FAILURE", "a1")]
    assert all(r.transport == "HTTP" for r in rows)
    assert "wrong" not in str([r.details for r in rows]) and "secret" not in str([r.details for r in rows])


async def test_over_long_name_is_failure_and_audited(running_db):
    body = await provision(running_db, running_db.key, running_db.secret, deviceName="n" * 300)
    assert body == FAILURE
    assert await last_failure_reason(running_db) == "device name is longer than 255 characters"
    row = await AuditEvent.filter(action="provision_failed").order_by("-id").first()
    assert len(row.device_name) == 255
    assert await Device.all().count() == 0
