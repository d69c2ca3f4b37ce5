"""The local CA over real sockets: a CSR signed over HTTP, MQTT and CoAP, the signed
certificate logging in over MQTT TLS, refusals, rotation, revocation."""

from __future__ import annotations

import base64
import json
import stat

from aiocoap import Code, Context
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlinks.core.types import ProvisionRefused
from gridlinks.plugins.local_ca.authority import checked_csr
from gridlinks.plugins.local_ca.settings import CsrProfileSettings
from tests.coap_client import CoapClient, coap_port
from tests.plugins.local_ca.support import Device, mqtt_provision, telemetry_over_tls, weak_rsa_key
from tests.plugins.x509.certs import NOT_AUTHORISED, credentials, tls_login, with_tls
from tests.support import hub_config, start_hub, stop_hub

CA = "local_ca"


async def latest(hub, device_id: str, key: str):
    series = (await hub.admin("GET", f"/api/plugins/telemetry/DEVICE/{device_id}/values/timeseries"))[1]
    return series[key][0]["value"]


async def test_csr_signed_over_http_mqtt_and_coap_then_logs_in_over_tls(hub, tmp_path):
    replies = {}
    http = Device(tmp_path, "csr-http")
    status, replies["http"] = await hub.provision(**http.request(hub))
    assert status == 200
    mqtt = Device(tmp_path, "csr-mqtt")
    replies["mqtt"] = await mqtt_provision(hub, mqtt.request(hub))
    coap_device = Device(tmp_path, "csr-coap", key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    context = await Context.create_client_context(transports=["udp6"])
    try:
        response = await CoapClient(context, coap_port(hub.hub)).post("/api/v1/provision", coap_device.request(hub))
    finally:
        await context.shutdown()
    assert response.code == Code.CREATED, response
    replies["coap"] = json.loads(response.payload)

    cas = {http.accept(replies["http"]), mqtt.accept(replies["mqtt"]), coap_device.accept(replies["coap"])}
    assert len(cas) == 1  # one tenant, one CA
    for n, (device, reply) in enumerate(((http, replies["http"]), (mqtt, replies["mqtt"]),
                                         (coap_device, replies["coap"]))):
        assert reply["deviceName"] == device.name
        stored = await credentials(hub, reply["deviceId"])
        assert stored["credentialsType"] == "X509_CERTIFICATE" and stored["credentialsValue"] == reply[
            "credentialsValue"]
        assert await telemetry_over_tls(hub, device, {"n": n}) == 0
        assert await latest(hub, reply["deviceId"], "n") == n

    # The CA key stays in the data directory, readable by the hub's user only.
    keys = list((hub.hub.settings.data_dir / "ca").glob("*/gen-*/ca.key"))
    assert len(keys) == 1 and stat.S_IMODE(keys[0].stat().st_mode) == 0o600
    assert "PRIVATE" not in json.dumps(replies)
    _, audit = await hub.admin("GET", "/api/audit/logs?action=local_ca_certificate_signed")
    assert audit["totalElements"] == 3

    # A request without a CSR is answered exactly as before.
    status, reply = await hub.provision(deviceName="plain", provisionDeviceKey=hub.key,
                                        provisionDeviceSecret=hub.secret)
    assert status == 200 and set(reply) == {"credentialsValue", "credentialsType", "status", "deviceId", "deviceName"}


async def failure_reasons(hub) -> list[str]:
    _, audit = await hub.admin("GET", "/api/audit/logs?action=provision_failed&pageSize=50")
    return [row["actionData"]["reason"] if "actionData" in row else json.dumps(row) for row in audit["data"]]


async def test_bad_csr_and_weak_keys_are_refused(hub, tmp_path):
    good = Device(tmp_path, "tampered")
    der = bytearray(x509.load_pem_x509_csr(good.csr.encode()).public_bytes(serialization.Encoding.DER))
    at = der.find(b"tampered")
    der[at:at + 8] = b"tampereX"  # the subject changed after signing: the signature no longer verifies
    broken = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()
    cases = {
        "signature": broken,
        "weak": Device(tmp_path, "weak-rsa", key=weak_rsa_key()).csr,
        "small-curve": Device(tmp_path, "p192", key=ec.generate_private_key(ec.SECP192R1())).csr,
        "garbage": "-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n-----END CERTIFICATE REQUEST-----",
    }
    for name, csr in cases.items():
        status, reply = await hub.provision(**good.request(hub, deviceName=name, csr=csr))
        assert status == 200 and reply["status"] == "FAILURE" and "credentialsValue" not in reply, (name, reply)
    status, reply = await hub.provision(**good.request(hub, deviceName="number", csr=42))
    assert reply["status"] == "FAILURE"
    reasons = " | ".join(await failure_reasons(hub))
    for expected in ("signature does not verify", "RSA 1024", "EC 192", "cannot be parsed", "csr must be"):
        assert expected in reasons, reasons
    status, page = await hub.admin("GET", "/api/tenant/devices?pageSize=100&page=0")
    assert {d["name"] for d in page["data"]} & set(cases) == set()

    # A profile that accepts RSA only, and at least 3072 bits.
    profile = (await hub.admin("GET", "/api/deviceProfiles?pageSize=10&page=0"))[1]["data"][0]
    profile["profileData"]["provisionConfiguration"].update({"csrKeyTypes": "RSA", "csrMinRsaBits": 3072})
    status, saved = await hub.admin("POST", "/api/deviceProfile", profile)
    assert status == 200, saved
    hub.hub.profiles._by_key.clear()
    status, reply = await hub.provision(**Device(tmp_path, "ec-now-refused").request(hub))
    assert reply["status"] == "FAILURE"
    assert "key type EC is not accepted" in " | ".join(await failure_reasons(hub))


async def test_rotation_keeps_old_certificates_valid(tmp_path):
    running = with_tls(await start_hub(hub_config(tmp_path / "data")))
    try:
        old = Device(tmp_path, "before-rotation")
        old_ca = old.accept((await running.provision(**old.request(running)))[1])
        assert await telemetry_over_tls(running, old, {"v": 1}) == 0
        await running.hub.services[CA].rotate((await running.hub.profiles.by_provision_key(running.key)).tenant_id,
                                              "test")
        new = Device(tmp_path, "after-rotation")
        new_ca = new.accept((await running.provision(**new.request(running)))[1])
        assert new_ca != old_ca
        assert await telemetry_over_tls(running, new, {"v": 2}) == 0
        assert await telemetry_over_tls(running, old, {"v": 3}) == 0
    finally:
        await stop_hub(running)
    running = with_tls(await start_hub(hub_config(tmp_path / "data")))  # both CAs trusted from disk
    try:
        trusted = running.hub.transports.get("mqtt").trust._known
        assert {ca.public_bytes(serialization.Encoding.DER) for ca in (old_ca, new_ca)} <= trusted
        assert await telemetry_over_tls(running, old, {"v": 4}) == 0
        assert await telemetry_over_tls(running, new, {"v": 5}) == 0
        old_keys = list((tmp_path / "data" / "ca").glob("*/gen-*/ca.key"))
        assert len(old_keys) == 1  # the retired CA's key is gone; it signs nothing more
    finally:
        await stop_hub(running)


async def test_revocation_closes_the_session_and_refuses_the_serial(hub, tmp_path):
    device = Device(tmp_path, "to-revoke")
    reply = (await hub.provision(**device.request(hub)))[1]
    device.accept(reply)
    client, rc = await tls_login(hub, device)
    assert rc == 0
    for bad in ({}, {"serial": "1", "deviceName": "to-revoke"}, {"serial": 5}, {"deviceName": "x" * 300}):
        status, body = await hub.admin("POST", "/api/localCa/revoke", bad)
        assert status == 400, (bad, body)
    status, body = await hub.admin("POST", "/api/localCa/revoke", {"deviceName": "to-revoke", "reason": "stolen"})
    assert status == 200 and body == {"revoked": [f"{device.cert.serial_number:x}"]}
    assert await client.closed_by_server()
    assert (await tls_login(hub, device))[1] in (-1, NOT_AUTHORISED)
    # The revoked certificate cannot come back as an ordinary X.509 credential either.
    status, again = await hub.provision(deviceName="revived", provisionDeviceKey=hub.key,
                                        provisionDeviceSecret=hub.secret, credentialsType="X509_CERTIFICATE",
                                        hash=device.cert_file.read_text())
    assert again["status"] == "FAILURE"
    assert "revoked" in " | ".join(await failure_reasons(hub))
    status, body = await hub.admin("POST", "/api/localCa/revoke", {"serial": f"0x{device.cert.serial_number:X}"})
    assert status == 404 and "no unrevoked certificate" in body["message"]
    status, body = await hub.admin("GET", "/api/localCa")
    assert status == 200 and body["certificate"] == reply["caCertificate"]


RULES = CsrProfileSettings().rules()


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=400), st.binary(max_size=400).map(
    lambda b: "-----BEGIN CERTIFICATE REQUEST-----\n" + base64.b64encode(b).decode()
    + "\n-----END CERTIFICATE REQUEST-----\n")))
def test_any_csr_text_is_signed_or_refused_with_a_reason(text):
    try:
        checked_csr(text, RULES)
    except ProvisionRefused as refused:
        assert str(refused)


async def test_csr_members_of_any_json_type_are_refused_not_errors(hub, tmp_path):
    device = Device(tmp_path, "typed")
    for value in ([device.csr], {"pem": device.csr}, True, "", " ", "x" * 20000, device.csr[:-40]):
        status, reply = await hub.provision(**device.request(hub, csr=value))
        assert status == 200 and reply["status"] == "FAILURE", (value, reply)
    status, page = await hub.admin("GET", "/api/tenant/devices?pageSize=100&page=0")
    assert "typed" not in {d["name"] for d in page["data"]}
