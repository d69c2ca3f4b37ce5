"""The admin REST API: login, tokens, 401/403, profiles, devices, attributes, bulk import."""

import pytest

from gridlinks.core.storage.models import Authority, Customer, Device, Tenant
from tests.support import ADMIN_EMAIL, ADMIN_PASSWORD

DUP_KEY = "Device profile with such provision device key already exists!"


async def test_login_refresh_and_bad_login(running):
    status, body = await running.post("/api/auth/login", json={"username": ADMIN_EMAIL, "password": "wrong"})
    assert (status, body) == (401, {"status": 401, "message": "Invalid username or password", "errorCode": 10})
    status, body = await running.post("/api/auth/login", json={"username": "nobody@x", "password": "x"})
    assert status == 401 and body["errorCode"] == 10
    status, tokens = await running.post("/api/auth/login", json={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert status == 200 and set(tokens) == {"token", "refreshToken"}
    status, fresh = await running.post("/api/auth/token", json={"refreshToken": tokens["refreshToken"]})
    assert status == 200 and fresh["token"]
    # an access token is not a refresh token, and vice versa
    assert (await running.post("/api/auth/token", json={"refreshToken": tokens["token"]}))[0] == 401
    assert (await running.get("/api/auth/user", token=tokens["refreshToken"]))[0] == 401
    status, me = await running.get("/api/auth/user", token=fresh["token"])
    assert status == 200 and me["authority"] == "TENANT_ADMIN"


@pytest.mark.parametrize("headers", [{}, {"X-Authorization": "Bearer garbage"}, {"X-Authorization": "Basic x"}])
async def test_no_or_bad_token_is_401(running, headers):
    status, body = await running.get("/api/deviceProfiles?pageSize=10&page=0", headers=headers)
    assert status == 401 and body["errorCode"] == 10


async def test_customer_user_gets_403_on_tenant_endpoints(running):
    hub = running.hub
    tenant = await Tenant.first()
    customer = await Customer.create(tenant=tenant, title="ACME")
    await hub.auth.create_user("cu@acme.test", "customer-pw", Authority.CUSTOMER_USER, None, customer)
    status, tokens = await running.post("/api/auth/login", json={"username": "cu@acme.test", "password": "customer-pw"})
    assert status == 200
    for path in ("/api/deviceProfiles?pageSize=10&page=0", "/api/tenant/devices?pageSize=10&page=0"):
        status, body = await running.get(path, token=tokens["token"])
        assert (status, body) == (403, {"status": 403,
                                        "message": "You don't have permission to perform this operation!",
                                        "errorCode": 20})


async def test_profile_crud_and_duplicate_key(running):
    body = {"name": "Thermostat v2", "provisionType": "ALLOW_CREATE_NEW_DEVICES",
            "profileData": {"provisionConfiguration": {"type": "ALLOW_CREATE_NEW_DEVICES"}}}
    status, profile = await running.admin("POST", "/api/deviceProfile", body)
    assert status == 200
    key = profile["provisionDeviceKey"]
    secret = profile["profileData"]["provisionConfiguration"]["provisionDeviceSecret"]
    assert len(key) == 20 and key.isalnum() and len(secret) == 20 and secret.isalnum()
    status, again = await running.admin("GET", f"/api/deviceProfile/{profile['id']['id']}")
    assert again == profile
    status, err = await running.admin("POST", "/api/deviceProfile",
                                      {**body, "name": "Other", "provisionDeviceKey": key})
    assert status == 400 and err["message"] == DUP_KEY
    # update: rename and switch strategy; key stays
    status, updated = await running.admin("POST", "/api/deviceProfile",
                                          {**profile, "name": "Thermostat v3",
                                           "provisionType": "CHECK_PRE_PROVISIONED_DEVICES"})
    assert status == 200 and updated["name"] == "Thermostat v3" and updated["provisionDeviceKey"] == key
    assert updated["provisionType"] == "CHECK_PRE_PROVISIONED_DEVICES"
    status, page = await running.admin("GET", "/api/deviceProfiles?pageSize=2&page=0")
    assert page["totalElements"] == 3 and page["hasNext"] is True and len(page["data"]) == 2
    status, err = await running.admin("POST", "/api/deviceProfile", {**body, "provisionType": "MAGIC"})
    assert status == 400 and "MAGIC" in err["message"]
    assert (await running.admin("DELETE", f"/api/deviceProfile/{profile['id']['id']}"))[0] == 200
    assert (await running.admin("GET", f"/api/deviceProfile/{profile['id']['id']}"))[0] == 404


async def test_profile_in_use_cannot_be_deleted(running):
    await running.provision(deviceName="d", provisionDeviceKey=running.key, provisionDeviceSecret=running.secret)
    status, page = await running.admin("GET", "/api/deviceProfiles?pageSize=10&page=0&textSearch=Demo")
    demo = page["data"][0]
    status, err = await running.admin("DELETE", f"/api/deviceProfile/{demo['id']['id']}")
    assert status == 400 and "cannot be deleted" in err["message"]


async def test_device_crud_search_and_pagination(running):
    for i in range(25):
        status, device = await running.admin("POST", "/api/device", {"name": f"sensor-{i:02d}", "label": "lab"})
        assert status == 200, device
    status, err = await running.admin("POST", "/api/device", {"name": "sensor-00"})
    assert status == 400 and err["message"] == "Device with such name already exists!"
    status, page = await running.admin("GET", "/api/tenant/devices?pageSize=10&page=2")
    assert page["totalElements"] == 25 and len(page["data"]) == 5 and page["hasNext"] is False
    status, page = await running.admin("GET", "/api/tenant/devices?pageSize=10&page=0&textSearch=sensor-1")
    assert page["totalElements"] == 10
    status, device = await running.admin("GET", "/api/tenant/devices?deviceName=sensor-07")
    assert device["name"] == "sensor-07" and device["type"] == "default"
    did = device["id"]["id"]
    status, creds = await running.admin("GET", f"/api/device/{did}/credentials")
    assert creds["credentialsType"] == "ACCESS_TOKEN" and len(creds["credentialsId"]) == 20
    status, renamed = await running.admin("POST", "/api/device", {**device, "name": "renamed"})
    assert renamed["name"] == "renamed" and renamed["id"] == device["id"]
    assert (await running.admin("DELETE", f"/api/device/{did}"))[0] == 200
    assert (await running.admin("GET", f"/api/device/{did}"))[0] == 404
    assert (await running.admin("GET", "/api/device/not-a-uuid"))[0] == 404
    assert (await running.admin("GET", "/api/tenant/devices?pageSize=0&page=0"))[0] == 400


async def test_server_and_shared_attributes(running):
    status, device = await running.admin("POST", "/api/device", {"name": "attr-dev"})
    did = device["id"]["id"]
    base = f"/api/plugins/telemetry/DEVICE/{did}"
    assert (await running.admin("POST", f"{base}/attributes/SERVER_SCOPE", {"color": "red", "n": 1}))[0] == 200
    assert (await running.admin("POST", f"{base}/SHARED_SCOPE", {"target": 20.5}))[0] == 200
    status, attrs = await running.admin("GET", f"{base}/values/attributes/SERVER_SCOPE?keys=color")
    assert [(a["key"], a["value"]) for a in attrs] == [("color", "red")]
    status, attrs = await running.admin("GET", f"{base}/values/attributes")
    assert {a["key"] for a in attrs} == {"color", "n", "target"}
    assert (await running.admin("POST", f"{base}/attributes/CLIENT_SCOPE", {"x": 1}))[0] == 400
    assert (await running.admin("POST", f"{base}/attributes/NOPE", {"x": 1}))[0] == 400
    assert (await running.admin("POST", f"{base}/attributes/SERVER_SCOPE", [1, 2]))[0] == 400


async def test_bulk_import_reports_lines(running):
    csv = ("name,type,token,color,temp\n"
           "b-1,Meter,tok-b-1,red,20\n"
           "b-2,Meter,tok-b-1,blue,21\n"      # token already used: error, nothing written
           ",Meter,,green,1\n"                # no name
           "b-3,Meter,,true,22.5\n"
           "short\n")
    mapping = {"columns": [{"type": "NAME"}, {"type": "TYPE"}, {"type": "ACCESS_TOKEN"},
                           {"type": "SERVER_ATTRIBUTE", "key": "color"}, {"type": "TIMESERIES", "key": "temp"}],
               "delimiter": ",", "update": True, "header": True}
    status, result = await running.admin("POST", "/api/device/bulk_import", {"file": csv, "mapping": mapping})
    assert status == 200
    assert result["created"] == 2 and result["updated"] == 0 and result["errors"] == 3
    assert result["errorsList"][0] == ("Line 3 (device b-2, column ACCESS_TOKEN): "
                                       "Device credentials are already assigned to another device!")
    assert result["errorsList"][1] == "Line 4 (column NAME): device name is empty"
    assert result["errorsList"][2].startswith("Line 6 (device short): expected 5 columns")
    assert not await Device.filter(name="b-2").exists()
    status, device = await running.admin("GET", "/api/tenant/devices?deviceName=b-3")
    assert device["type"] == "Meter"
    status, attrs = await running.admin(
        "GET", f"/api/plugins/telemetry/DEVICE/{device['id']['id']}/values/attributes/SERVER_SCOPE?keys=color")
    assert attrs[0]["value"] is True
    # update=true: existing devices are updated, not duplicated
    status, result = await running.admin("POST", "/api/device/bulk_import",
                                         {"file": "name,type,token,color,temp\nb-1,Meter,,black,5\n",
                                          "mapping": mapping})
    assert result == {"created": 0, "updated": 1, "errors": 0, "errorsList": []}
    status, result = await running.admin("POST", "/api/device/bulk_import",
                                         {"file": "b-1,Meter,,x,1\n",
                                          "mapping": {**mapping, "update": False, "header": False}})
    assert result["errorsList"] == ["Line 1 (device b-1, column NAME): Device with such name already exists!"]


async def test_bulk_import_bad_mapping_is_400(running):
    for mapping in (None, {"columns": []}, {"columns": [{"type": "BOGUS"}]}, {"columns": [{"type": "TYPE"}]},
                    {"columns": [{"type": "NAME"}, {"type": "SHARED_ATTRIBUTE"}]}):
        status, body = await running.admin("POST", "/api/device/bulk_import", {"file": "a", "mapping": mapping})
        assert status == 400 and body["status"] == 400, mapping
