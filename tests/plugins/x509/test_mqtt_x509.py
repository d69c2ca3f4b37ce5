"""X.509 over the MQTT TLS listener: provisioned self-signed device certificates, and
the X509_CERTIFICATE_CHAIN strategy (create / rotate / refuse)."""

from __future__ import annotations

import hashlib
import json

from tests.plugins.x509.certs import NOT_AUTHORISED, Cert, chain_profile, credentials, device_named, tls_login, with_tls
from tests.support import hub_config, start_hub, stop_hub


async def test_provisioned_self_signed_certificate_logs_in_and_unknown_is_refused(hub, tmp_path):
    own = Cert(tmp_path, "localhost", ca=True)  # what the seed script makes
    client, rc = await tls_login(hub, username="provision")
    assert rc == 0
    await client.subscribe("/provision/response")
    await client.publish("/provision/request", json.dumps({
        "deviceName": "x509-dev", "provisionDeviceKey": hub.key, "provisionDeviceSecret": hub.secret,
        "credentialsType": "X509_CERTIFICATE", "hash": own.pem}))
    reply = json.loads((await client.message())[1])
    assert reply["status"] == "SUCCESS" and reply["credentialsValue"] == own.body
    await client.close()

    client, rc = await tls_login(hub, own)
    assert rc == 0
    await client.publish("v1/devices/me/telemetry", '{"x509": 1}', qos=1)
    await client.close()
    series = (await hub.admin("GET", f"/api/plugins/telemetry/DEVICE/{reply['deviceId']}/values/timeseries"))[1]
    assert series["x509"][0]["value"] == 1

    stranger = Cert(tmp_path, "localhost", ca=True)
    assert (await tls_login(hub, stranger))[1] in (-1, NOT_AUTHORISED)
    assert (await tls_login(hub))[1] == NOT_AUTHORISED  # TLS without any credentials


async def test_certificates_known_at_start_are_trusted(tmp_path):
    own = Cert(tmp_path, "pre", ca=False)
    config = hub_config(tmp_path / "data")
    running = await start_hub(config)
    status, _ = await running.provision(deviceName="pre-1", credentialsType="X509_CERTIFICATE", hash=own.body,
                                        provisionDeviceKey=running.key, provisionDeviceSecret=running.secret)
    assert status == 200
    await stop_hub(running)
    running = await start_hub(hub_config(tmp_path / "data"))  # a new process would see the same
    try:
        with_tls(running)
        client, rc = await tls_login(running, own)
        assert rc == 0
        await client.close()
    finally:
        await stop_hub(running)


async def test_chain_profile_key_is_sha3_of_its_certificate(hub, tmp_path):
    ca = Cert(tmp_path, "Factory CA", ca=True)
    profile = await chain_profile(hub, ca)
    assert profile["provisionDeviceKey"] == hashlib.sha3_256(ca.body.encode()).hexdigest()
    status, body = await hub.admin("POST", "/api/deviceProfile", {
        "name": "broken", "provisionType": "X509_CERTIFICATE_CHAIN",
        "profileData": {"provisionConfiguration": {"provisionDeviceSecret": "not a certificate"}}})
    assert status == 400 and "provisionDeviceSecret" in body["message"]


async def test_chain_create_then_rotate(hub, tmp_path):
    ca = Cert(tmp_path, "Factory CA", ca=True)
    await chain_profile(hub, ca, pattern=r"^device-(\w+)\.example$")
    first = Cert(tmp_path, "device-abc.example", issuer=ca)
    client, rc = await tls_login(hub, first)
    assert rc == 0
    await client.publish("v1/devices/me/telemetry", '{"boot": 1}', qos=1)
    await client.close()
    device = await device_named(hub, "abc")
    assert device is not None and device["type"] == "chain"
    assert (await credentials(hub, device["id"]["id"]))["credentialsValue"] == first.body
    attrs = (await hub.admin(
        "GET", f"/api/plugins/telemetry/DEVICE/{device['id']['id']}/values/attributes/SERVER_SCOPE"))[1]
    assert {"key": "provisionState", "value": "provisioned"}.items() <= attrs[0].items()

    rotated = Cert(tmp_path, "device-abc.example", issuer=ca)  # new key, same name
    client, rc = await tls_login(hub, rotated)
    assert rc == 0
    await client.close()
    assert (await credentials(hub, device["id"]["id"]))["credentialsValue"] == rotated.body
    status, page = await hub.admin("GET", "/api/tenant/devices?pageSize=100&page=0")
    assert [d["name"] for d in page["data"]].count("abc") == 1
    status, audit = await hub.admin("GET", "/api/audit/logs?action=certificate_rotated")
    assert audit["totalElements"] == 1


async def test_chain_refusals(hub, tmp_path):
    ca = Cert(tmp_path, "Closed CA", ca=True)
    profile = await chain_profile(hub, ca, name="closed", pattern=r"^dev-(.+)$", allow_create=False)
    no_create = Cert(tmp_path, "dev-new", issuer=ca)
    assert (await tls_login(hub, no_create))[1] == NOT_AUTHORISED
    assert await device_named(hub, "new") is None

    open_ca = Cert(tmp_path, "Open CA", ca=True)
    await chain_profile(hub, open_ca, name="open", pattern=r"^dev-(.+)$")
    assert (await tls_login(hub, Cert(tmp_path, "unrelated-cn", issuer=open_ca)))[1] == NOT_AUTHORISED
    # a device of that name in another profile is not taken over
    await hub.provision(deviceName="taken", provisionDeviceKey=hub.key, provisionDeviceSecret=hub.secret)
    assert (await tls_login(hub, Cert(tmp_path, "dev-taken", issuer=open_ca)))[1] == NOT_AUTHORISED
    # a certificate from a CA the hub does not know fails the handshake
    rogue = Cert(tmp_path, "Rogue CA", ca=True)
    assert (await tls_login(hub, Cert(tmp_path, "dev-rogue", issuer=rogue)))[1] in (-1, NOT_AUTHORISED)
    assert await device_named(hub, "rogue") is None
    # key and secret are public (a hash and a CA certificate): a request cannot use them
    status, reply = await hub.provision(deviceName="forged", provisionDeviceKey=profile["provisionDeviceKey"],
                                        provisionDeviceSecret=ca.pem, credentialsType="X509_CERTIFICATE",
                                        hash=no_create.pem)
    assert reply["status"] in ("FAILURE", "NOT_FOUND") and await device_named(hub, "forged") is None


async def test_chain_intermediate_as_profile_certificate(hub, tmp_path):
    """The profile may hold an intermediate; the leaf is issued directly by it."""
    root = Cert(tmp_path, "Root", ca=True)
    intermediate = Cert(tmp_path, "Line 3", issuer=root, ca=True)
    await chain_profile(hub, intermediate, name="line3")
    client, rc = await tls_login(hub, Cert(tmp_path, "unit-7", issuer=intermediate))
    assert rc == 0
    await client.close()
    assert await device_named(hub, "unit-7") is not None


async def test_chain_through_an_intermediate(hub, tmp_path):
    """A profile on the root, a leaf issued by an intermediate the device sends along:
    provisioned on every Python (the TLS layer hands over the chain OpenSSL verified;
    before, Python < 3.13 saw only the leaf and refused this)."""
    root = Cert(tmp_path, "Root", ca=True)
    await chain_profile(hub, root, name="root")
    intermediate = Cert(tmp_path, "Sub", issuer=root, ca=True)
    leaf = Cert(tmp_path, "deep-1", issuer=intermediate)
    leaf.cert_file.write_text(leaf.pem + intermediate.pem)  # the device sends its chain
    client, rc = await tls_login(hub, leaf)
    assert rc == 0 and await device_named(hub, "deep-1") is not None
    await client.close()
    # three levels below the root
    second = Cert(tmp_path, "Sub 2", issuer=intermediate, ca=True)
    deeper = Cert(tmp_path, "deep-2", issuer=second)
    deeper.cert_file.write_text(deeper.pem + second.pem + intermediate.pem)
    client, rc = await tls_login(hub, deeper)
    assert rc == 0 and await device_named(hub, "deep-2") is not None
    await client.close()
    # an intermediate the root did not sign: the handshake (or authentication) refuses it
    stranger = Cert(tmp_path, "Stranger", ca=True)
    forged = Cert(tmp_path, "deep-3", issuer=stranger)
    forged.cert_file.write_text(forged.pem + stranger.pem)
    assert (await tls_login(hub, forged))[1] in (-1, NOT_AUTHORISED)
    assert await device_named(hub, "deep-3") is None


def test_cli_creates_chain_profile_from_ca_file(tmp_path):
    from tests.cli_support import cli

    ca = Cert(tmp_path, "CLI CA", ca=True)
    data = tmp_path / "cli-data"
    cli(data, "init", "--admin-email", "ops@site.test", "--admin-password", "pw-123456")
    out = cli(data, "profile", "create", "--name", "line", "--strategy", "x509-chain", "--ca-file", str(ca.cert_file),
              "--cert-regex", r"^unit-(\d+)$", "--allow-create-by-cert").stdout
    assert hashlib.sha3_256(ca.body.encode()).hexdigest() in "".join(out.split())  # the console may wrap it
    failed = cli(data, "profile", "create", "--name", "nocert", "--strategy", "x509-chain", check=False)
    assert failed.returncode != 0 and "provisionDeviceSecret" in failed.stdout + failed.stderr
