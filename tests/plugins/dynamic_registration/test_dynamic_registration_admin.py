"""Dynamic registration for people: the admin REST API and the CLI (switch, ProductSN /
ProductSecret, static device secrets, reset), checked against real MQTT logins."""

from __future__ import annotations

import pytest

from tests.certs import self_signed
from tests.cli_support import cli, value_after
from tests.plugins.dynamic_registration.support import (
    DEVICE_SN,
    NOT_AUTHORISED,
    PRODUCT_SECRET,
    PRODUCT_SN,
    ask,
    login,
    password_of,
)

API = "/api/dynamicRegistration"


async def test_product_show_and_switch(hub):
    pid = str(hub.product.id)
    status, body = await hub.admin("GET", f"{API}/product/{pid}")
    assert status == 200
    assert (body["productSN"], body["productSecret"], body["dynamicRegistration"]) == (PRODUCT_SN, PRODUCT_SECRET, True)
    assert (body["whitelisted"], body["withSecret"], body["activated"]) == (1, 0, 0)

    status, body = await hub.admin("POST", f"{API}/product/{pid}", {"dynamicRegistration": False})
    assert status == 200 and body["dynamicRegistration"] is False
    reply, client = await ask(hub)
    assert reply["RetCode"] == "2"
    await client.close()
    # The profile JSON of the generic API carries the switch where the dashboard reads it.
    status, profile = await hub.admin("GET", f"/api/deviceProfile/{pid}")
    assert "dynamicRegistration" not in profile["profileData"]["provisionConfiguration"]

    status, body = await hub.admin("POST", f"{API}/product/{pid}", {"dynamicRegistration": True})
    assert status == 200 and body["dynamicRegistration"] is True
    status, profile = await hub.admin("GET", f"/api/deviceProfile/{pid}")
    assert profile["profileData"]["provisionConfiguration"]["dynamicRegistration"] is True
    secret = await password_of(hub)
    client, rc = await login(hub, 1, secret)
    await client.close()
    status, body = await hub.admin("GET", f"{API}/product/{pid}")
    assert (body["withSecret"], body["activated"]) == (1, 1)
    logs = (await hub.admin("GET", "/api/audit/logs?action=dynamic_registration_switched"))[1]
    actions = [e["action"] for e in logs["data"]]
    assert actions == ["dynamic_registration_switched"] * 2


async def test_switch_refusals(hub):
    pid = str(hub.product.id)
    for body in ({}, {"dynamicRegistration": "yes"}, ["x"]):
        status, reply = await hub.admin("POST", f"{API}/product/{pid}", body)
        assert status == 400 and reply["errorCode"] == 31, reply
    # A chain profile's key and secret are public: never a product, even if its JSON says so.
    ca_pem = self_signed("ca")[0]
    chain = await hub.hub.profiles.create(hub.tenant, "Chain", "X509_CERTIFICATE_CHAIN", secret=ca_pem,
                                          config={"dynamicRegistration": True})
    status, reply = await hub.admin("POST", f"{API}/product/{chain.id}", {"dynamicRegistration": True})
    assert status == 400 and "X509_CERTIFICATE_CHAIN" in reply["message"]
    client, rc = await login(hub, 2, ca_pem, product_sn=chain.provision_key)
    assert client is None and rc == NOT_AUTHORISED
    status, reply = await hub.admin("GET", f"{API}/product/00000000-0000-0000-0000-000000000000")
    assert status == 404
    status, _ = await hub.get(f"{API}/product/{pid}")  # no token
    assert status == 401


async def test_static_secret_then_reset(hub):
    did = str(hub.device.id)
    status, body = await hub.admin("POST", f"{API}/device/{did}/secret", {"secret": "zlc3d21u5k8fq0d2"})
    assert status == 200 and body["password"] == "zlc3d21u5k8fq0d2" and body["state"] == "STATIC"
    assert (body["clientId"], body["userName"]) == (f"{PRODUCT_SN}.{DEVICE_SN}", f"{PRODUCT_SN}|{DEVICE_SN}|1")
    client, rc = await login(hub, 1, "zlc3d21u5k8fq0d2")
    assert rc == 0
    await client.close()
    reply, client = await ask(hub)  # static registration: authmode 1 only
    assert reply == {"RetCode": "6", "RequestID": "100",
                     "Message": "the device has a secret set by an admin; log in with authmode 1"}
    await client.close()
    status, body = await hub.admin("GET", f"{API}/device/{did}")
    assert status == 200 and "password" not in body and body["state"] == "STATIC"

    status, body = await hub.admin("DELETE", f"{API}/device/{did}")
    assert status == 200 and body["state"] == "NONE"
    client, rc = await login(hub, 1, "zlc3d21u5k8fq0d2")
    assert client is None and rc == NOT_AUTHORISED
    fresh = await password_of(hub)  # registers again
    assert fresh != "zlc3d21u5k8fq0d2"
    status, body = await hub.admin("GET", f"{API}/device/{did}")
    assert body["state"] == "ISSUED" and body["activatedTime"] is None


async def test_reset_of_an_activated_device(hub):
    first = await password_of(hub)
    client, _ = await login(hub, 1, first)
    await client.close()
    assert (await ask(hub))[0]["RetCode"] == "5"
    status, _ = await hub.admin("DELETE", f"{API}/device/{hub.device.id}")
    assert status == 200
    second = await password_of(hub)
    assert second != first
    assert (await login(hub, 1, first))[1] == NOT_AUTHORISED
    client, rc = await login(hub, 1, second)
    assert rc == 0
    await client.close()
    status, page = await hub.admin("GET", "/api/audit/logs?action=device_registration_reset")
    assert [e["actor"] for e in page["data"]] == ["admin@test.local"]


@pytest.mark.parametrize("body", [{"secret": "short"}, {"secret": "has a space"}, {"secret": 12345678}, ["x"]])
async def test_bad_static_secrets(hub, body):
    status, reply = await hub.admin("POST", f"{API}/device/{hub.device.id}/secret", body)
    assert status == 400 and reply["status"] == 400


async def test_generated_static_secret(hub):
    status, body = await hub.admin("POST", f"{API}/device/{hub.device.id}/secret")
    assert status == 200 and len(body["password"]) == 20
    client, rc = await login(hub, 1, body["password"])
    assert rc == 0
    await client.close()


def test_cli(tmp_path):
    """The issue's command names, then switch, show, static secret and reset."""
    cli(tmp_path, "init")
    cli(tmp_path, "profile", "create", "--name", "P", "--strategy", "check-pre-provisioned", "--key", PRODUCT_SN,
        "--secret", PRODUCT_SECRET, "--dynamic-registration")
    cli(tmp_path, "device", "add", "--name", DEVICE_SN, "--profile", "P")
    shown = cli(tmp_path, "profile", "show", "--name", "P").stdout
    assert value_after(shown, "dynamic registration") == "on"
    assert (value_after(shown, "ProductSN"), value_after(shown, "ProductSecret")) == (PRODUCT_SN, PRODUCT_SECRET)
    assert value_after(shown, "whitelisted devices") == "1"
    off = cli(tmp_path, "profile", "dynamic-registration", "--name", "P", "--off").stdout
    assert "dynamic registration off" in off
    assert value_after(cli(tmp_path, "profile", "show", "--name", "P").stdout, "dynamic registration") == "off"
    out = cli(tmp_path, "device", "set-secret", "--name", DEVICE_SN, "--secret", "zlc3d21u5k8fq0d2").stdout
    assert value_after(out, "UserName") == f"{PRODUCT_SN}|{DEVICE_SN}|1"
    assert value_after(out, "Password") == "zlc3d21u5k8fq0d2"
    state = cli(tmp_path, "device", "registration", "--name", DEVICE_SN).stdout
    assert value_after(state, "state") == "STATIC" and "zlc3d21u5k8fq0d2" not in state
    assert "registration reset" in cli(tmp_path, "device", "reset-registration", "--name", DEVICE_SN).stdout
    bad = cli(tmp_path, "device", "set-secret", "--name", DEVICE_SN, "--secret", "short", check=False)
    assert bad.returncode == 1 and "8 to 255" in bad.stderr
    missing = cli(tmp_path, "device", "registration", "--name", "nope", check=False)
    assert missing.returncode == 1 and "error:" in missing.stderr
    # The commands belong to the plugin: with it disabled they do not exist at all.
    disabled_env = {"GRIDLINKS_PLUGINS": "access_token,provision_check_pre_provisioned"}
    disabled = cli(tmp_path, "profile", "show", "--name", "P", check=False, env=disabled_env)
    assert disabled.returncode == 2 and "invalid choice: 'show'" in disabled.stderr
    assert "reset-registration" not in cli(tmp_path, "device", "--help", env=disabled_env).stdout
    assert "reset-registration" in cli(tmp_path, "device", "--help").stdout
