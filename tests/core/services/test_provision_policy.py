"""Provisioning policy (issue 16, docs/provisioning.md) over real HTTP, MQTT and CoAP:
derived secrets, ROTATE/RESET re-provisioning with proof, the pre-provisioned
double-provision closed, the profile template, quotas and secret rotation."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import pytest
from aiocoap import Code, Context

from gridlinks.core.events import DeviceProvisioned, ProvisionFailed
from gridlinks.core.services.bootstrap import default_tenant
from gridlinks.core.services.provision_policy import derive_secret
from gridlinks.core.storage.models import Attribute, AuditEvent, Device, TimeseriesValue
from tests.coap_client import CoapClient, coap_port
from tests.mqtt_wire import MqttWire
from tests.support import REDIS_URL, hub_config, redis_or_skip, start_hub, stop_hub, with_mqtt_ports

NOT_FOUND = {"errorMsg": "Provision data was not found!", "status": "NOT_FOUND"}
FAILURE = {"errorMsg": "Failed to provision device!", "status": "FAILURE"}


@pytest.fixture
async def hub(tmp_path):
    """A hub on SQLite with MQTT ports noted and an aiocoap client as ``hub.coap``."""
    running = with_mqtt_ports(await start_hub(hub_config(tmp_path / "data", mqtt={"provision_close_delay_s": 0.2})))
    context = await Context.create_client_context(transports=["udp6"])
    running.coap = CoapClient(context, coap_port(running.hub))
    running.events = []
    running.hub.bus.listen(ProvisionFailed, running.events.append)
    running.hub.bus.listen(DeviceProvisioned, running.events.append)
    try:
        yield running
    finally:
        await context.shutdown()
        await stop_hub(running)


async def make_profile(running, name, key, secret="s3cret", provision_type="ALLOW_CREATE_NEW_DEVICES", **policy):
    body = {"name": name, "provisionType": provision_type, "provisionDeviceKey": key,
            "profileData": {"provisionConfiguration": {"type": provision_type, "provisionDeviceSecret": secret,
                                                       **policy}}}
    status, profile = await running.admin("POST", "/api/deviceProfile", body)
    assert status == 200, profile
    return profile


async def http(running, key, secret, **body):
    status, reply = await running.provision(provisionDeviceKey=key, provisionDeviceSecret=secret, **body)
    assert status == 200, reply
    return reply


async def coap(running, key, secret, **body):
    response = await running.coap.post("/api/v1/provision", {"provisionDeviceKey": key,
                                                             "provisionDeviceSecret": secret, **body})
    assert response.code in (Code.CREATED, Code.BAD_REQUEST, Code.NOT_FOUND, Code.CHANGED), response
    return json.loads(response.payload)


async def mqtt(running, key, secret, ssl=None, port=None, **body):
    client, rc = await MqttWire.connect(port or running.mqtt_port, username="provision", ssl=ssl,
                                        server_hostname="localhost" if ssl else None)
    assert rc == 0
    try:
        assert await client.subscribe("/provision/response", qos=1) == 1
        await client.publish("/provision/request", json.dumps({"provisionDeviceKey": key,
                                                               "provisionDeviceSecret": secret, **body}), qos=1)
        return json.loads((await client.message())[1])
    finally:
        await client.close()


async def last_failure(running):
    return await AuditEvent.filter(action="provision_failed").order_by("-id").first()


async def until(predicate, what: str) -> None:
    for _ in range(250):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting until {what}")


async def telemetry(running, token, values=None):
    return (await running.post(f"/api/v1/{token}/telemetry", json=values or {"t": 1}))[0]


# -- derived secrets --------------------------------------------------------------------------


async def test_derived_secret_right_wrong_and_for_another_name_on_every_transport(hub):
    await make_profile(hub, "Derived", "dkey", "factory-secret", derivedSecrets=True)
    own = derive_secret("factory-secret", "dev-1")
    assert (await http(hub, "dkey", own, deviceName="dev-1"))["status"] == "SUCCESS"
    assert (await coap(hub, "dkey", derive_secret("factory-secret", "dev-2"), deviceName="dev-2"))["status"] \
        == "SUCCESS"
    assert (await mqtt(hub, "dkey", derive_secret("factory-secret", "dev-3"), deviceName="dev-3"))["status"] \
        == "SUCCESS"
    # wrong, for another name, the plain profile secret, no name: NOT_FOUND on each transport
    assert await http(hub, "dkey", "d3JvbmcK", deviceName="dev-4") == NOT_FOUND
    assert (await last_failure(hub)).reason == "derived secret does not match this device name"
    assert await coap(hub, "dkey", own, deviceName="dev-5") == NOT_FOUND
    assert await mqtt(hub, "dkey", own, deviceName="dev-6") == NOT_FOUND
    assert await http(hub, "dkey", "factory-secret", deviceName="dev-7") == NOT_FOUND
    assert await http(hub, "dkey", own) == NOT_FOUND
    assert not await Device.filter(name__in=["dev-4", "dev-5", "dev-6", "dev-7"]).exists()
    # the admin's REST call gives the same value as the 3-line computation
    profile = await hub.hub.profiles.by_provision_key("dkey")
    status, body = await hub.admin("GET", f"/api/deviceProfile/{profile.id}/derivedSecret?deviceName=dev-1")
    assert status == 200 and body == {"deviceName": "dev-1", "provisionDeviceSecret": own}
    # a profile without the option still takes its plain secret (the reference)
    assert (await http(hub, hub.key, hub.secret, deviceName="plain"))["status"] == "SUCCESS"


# -- re-provisioning ----------------------------------------------------------------------------


async def test_rotate_needs_proof_then_old_token_is_refused_and_its_mqtt_session_closed(hub):
    await make_profile(hub, "Rotating", "rkey", "rsecret", reprovisionPolicy="ROTATE")
    first = await http(hub, "rkey", "rsecret", deviceName="r-1")
    old = first["credentialsValue"]
    assert await telemetry(hub, old, {"kept": 42}) == 200
    session, rc = await MqttWire.connect(hub.mqtt_port, username=old)
    assert rc == 0
    observers = hub.hub.transports.get("coap").observers
    watch = hub.coap.context.request(hub.coap.message(Code.GET, f"/api/v1/{old}/attributes", observe=0))
    assert (await asyncio.wait_for(watch.response, 10)).code == Code.CONTENT
    observed: list = []
    watch.observation.register_callback(observed.append)
    watch.observation.register_errback(observed.append)
    # no proof, or a wrong one: the reference's FAILURE, nothing changed
    assert await http(hub, "rkey", "rsecret", deviceName="r-1") == FAILURE
    assert "needs proof" in (await last_failure(hub)).reason
    assert await mqtt(hub, "rkey", "rsecret", deviceName="r-1", currentCredentials="not-the-token") == FAILURE
    assert await telemetry(hub, old) == 200
    # the current token as proof, over MQTT: new credentials, same device, data kept
    again = await mqtt(hub, "rkey", "rsecret", deviceName="r-1", currentCredentials=old)
    assert again["status"] == "SUCCESS" and again["deviceId"] == first["deviceId"]
    assert again["credentialsValue"] != old
    assert await session.closed_by_server(5)
    await until(lambda: observers.count(first["deviceId"]) == 0, "the old token's CoAP observation ends")
    assert observed and getattr(observed[-1], "code", Code.UNAUTHORIZED) == Code.UNAUTHORIZED
    assert await telemetry(hub, old) == 401
    assert await telemetry(hub, again["credentialsValue"]) == 200
    assert (await MqttWire.connect(hub.mqtt_port, username=old))[1] != 0
    assert await TimeseriesValue.filter(key="kept").count() == 1
    row = await AuditEvent.filter(action="device_provisioned").order_by("-id").first()
    assert row.details["reprovision"] == "ROTATE" and row.details["proof"] == "currentCredentials"
    assert old not in json.dumps(row.details)
    # MQTT_BASIC credentials as proof, over CoAP
    basic = await coap(hub, "rkey", "rsecret", deviceName="r-2", credentialsType="MQTT_BASIC", clientId="c-r2",
                       username="u-r2", password="p-r2")
    assert basic["status"] == "SUCCESS"
    proof = {"clientId": "c-r2", "userName": "u-r2", "password": "p-r2"}
    assert await coap(hub, "rkey", "rsecret", deviceName="r-2", currentCredentials={**proof, "password": "x"}) \
        == FAILURE
    assert (await coap(hub, "rkey", "rsecret", deviceName="r-2", currentCredentials=proof))["status"] == "SUCCESS"
    # a name in another profile is never taken over, proof or not
    other = await http(hub, hub.key, hub.secret, deviceName="elsewhere")
    assert await http(hub, "rkey", "rsecret", deviceName="elsewhere",
                      currentCredentials=other["credentialsValue"]) == FAILURE
    # NEVER (the default) stays the reference's FAILURE even with proof
    assert await http(hub, hub.key, hub.secret, deviceName="elsewhere",
                      currentCredentials=other["credentialsValue"]) == FAILURE


async def test_reset_brings_attributes_back_to_the_template_and_keeps_telemetry(hub):
    template = {"label": "{deviceName}", "serverAttributes": {"fw": "1.0"}, "sharedAttributes": {"interval": 5}}
    await make_profile(hub, "Resetting", "xkey", "xsecret", reprovisionPolicy="RESET", derivedSecrets=True,
                       provisionTemplate=template)
    secret = derive_secret("xsecret", "x-1")
    first = await http(hub, "xkey", secret, deviceName="x-1")
    token = first["credentialsValue"]
    assert (await hub.post(f"/api/v1/{token}/attributes", json={"mine": True}))[0] == 200
    assert await telemetry(hub, token, {"temp": 20}) == 200
    device = await Device.get(name="x-1")
    await hub.hub.devices.set_attributes(device, "SERVER_SCOPE", {"fw": "2.0", "extra": 1})
    # the derived secret is the proof; over CoAP
    again = await coap(hub, "xkey", secret, deviceName="x-1")
    assert again["status"] == "SUCCESS" and again["credentialsValue"] != token
    attrs = {(a.scope, a.key): a.value for a in await Attribute.filter(device_id=device.id)}
    assert attrs == {("SERVER_SCOPE", "fw"): "1.0", ("SHARED_SCOPE", "interval"): 5,
                     ("SERVER_SCOPE", "provisionState"): "provisioned"}
    assert await TimeseriesValue.filter(device_id=device.id, key="temp").count() == 1
    assert await telemetry(hub, token) == 401
    row = await AuditEvent.filter(action="device_provisioned").order_by("-id").first()
    assert row.details["reprovision"] == "RESET" and row.details["proof"] == "derived secret"


async def test_pre_provisioned_device_cannot_be_provisioned_twice_without_proof(hub):
    await make_profile(hub, "Listed", "lkey", "lsecret", provision_type="CHECK_PRE_PROVISIONED_DEVICES",
                       reprovisionPolicy="ROTATE")
    tenant = await default_tenant(hub.hub)
    profile = await hub.hub.profiles.by_name(tenant, "Listed")
    await hub.hub.devices.create(tenant, profile, "listed-1")
    first = await http(hub, "lkey", "lsecret", deviceName="listed-1")
    assert first["status"] == "SUCCESS"
    # anyone else with the profile secret: no second copy of the credentials (HTTP, MQTT, CoAP)
    assert await http(hub, "lkey", "lsecret", deviceName="listed-1") == FAILURE
    assert await mqtt(hub, "lkey", "lsecret", deviceName="listed-1") == FAILURE
    assert await coap(hub, "lkey", "lsecret", deviceName="listed-1") == FAILURE
    again = await http(hub, "lkey", "lsecret", deviceName="listed-1", currentCredentials=first["credentialsValue"])
    assert again["status"] == "SUCCESS" and again["credentialsValue"] != first["credentialsValue"]
    assert await telemetry(hub, first["credentialsValue"]) == 401
    # concurrent re-provisionings with the same proof: one wins
    proof = again["credentialsValue"]
    bodies = await asyncio.gather(*[http(hub, "lkey", "lsecret", deviceName="listed-1", currentCredentials=proof)
                                    for _ in range(8)])
    assert sum(b["status"] == "SUCCESS" for b in bodies) == 1


async def test_reprovision_proven_by_the_provisioned_certificate_over_tls(hub, tmp_path):
    from tests.plugins.x509.certs import Cert, client_context, with_tls

    with_tls(hub)
    await make_profile(hub, "Certs", "ckey", "csecret", reprovisionPolicy="ROTATE")
    cert = Cert(tmp_path, "cert-dev", ca=True)
    first = await http(hub, "ckey", "csecret", deviceName="cert-dev", credentialsType="X509_CERTIFICATE",
                       hash=cert.pem)
    assert first["status"] == "SUCCESS"
    # without the certificate (plain MQTT): no proof
    assert await mqtt(hub, "ckey", "csecret", deviceName="cert-dev") == FAILURE
    reply = None
    for _ in range(50):  # the TLS listener trusts the new certificate once the event is handled
        try:
            reply = await mqtt(hub, "ckey", "csecret", ssl=client_context(hub, cert), port=hub.tls_port,
                               deviceName="cert-dev")
            break
        except (OSError, AssertionError):
            await asyncio.sleep(0.1)
    assert reply is not None and reply["status"] == "SUCCESS" and reply["credentialsType"] == "ACCESS_TOKEN"
    row = await AuditEvent.filter(action="device_provisioned").order_by("-id").first()
    assert row.details["proof"] == "certificate"


# -- template ----------------------------------------------------------------------------------


async def test_template_sets_label_attributes_customer_and_gateway(hub):
    tenant = await default_tenant(hub.hub)
    customer = await hub.hub.customers.create(tenant, "Acme")
    template = {"label": "{deviceName} on {date}", "serverAttributes": {"site": "north"},
                "sharedAttributes": {"interval": 30}, "customer": "Acme", "gateway": True}
    await make_profile(hub, "Templated", "tkey", "tsecret", provisionTemplate=template)
    reply = await mqtt(hub, "tkey", "tsecret", deviceName="gw-1")
    assert reply["status"] == "SUCCESS"
    device = await Device.get(name="gw-1")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert device.label == f"gw-1 on {today}" and device.customer_id == customer.id and device.is_gateway
    attrs = {(a.scope, a.key): a.value for a in await Attribute.filter(device_id=device.id)}
    assert attrs[("SERVER_SCOPE", "site")] == "north" and attrs[("SHARED_SCOPE", "interval")] == 30
    # a gateway session may use the gateway topics (a plain device's session is ended there)
    claim = json.dumps({"child-1": {"secretKey": "k", "durationMs": 60000}})
    session, rc = await MqttWire.connect(hub.mqtt_port, username=reply["credentialsValue"])
    assert rc == 0
    assert await session.publish("v1/gateway/claim", claim, qos=1) is not None
    assert not await session.closed_by_server(0.3)
    await session.close()
    plain = await http(hub, hub.key, hub.secret, deviceName="not-a-gateway")
    session, rc = await MqttWire.connect(hub.mqtt_port, username=plain["credentialsValue"])
    assert await session.publish("v1/gateway/claim", claim, qos=1) is None
    await session.close()
    # the profile as REST shows it, and a template whose customer is gone: FAILURE, audited
    status, saved = await hub.admin("GET", f"/api/deviceProfile/{(await Device.get(name='gw-1')).profile_id}")
    assert saved["profileData"]["provisionConfiguration"]["provisionTemplate"] == template
    await make_profile(hub, "Orphan", "okey", "osecret", provisionTemplate={"customer": "Nobody"})
    assert await coap(hub, "okey", "osecret", deviceName="o-1") == FAILURE
    assert "Nobody" in (await last_failure(hub)).reason and not await Device.filter(name="o-1").exists()


async def test_request_gateway_still_needs_the_profile_to_allow_it(hub):
    await make_profile(hub, "Plain template", "pkey", "psecret", provisionTemplate={"label": "x"})
    assert (await http(hub, "pkey", "psecret", deviceName="p-gw", gateway=True))["status"] == "SUCCESS"
    device = await Device.get(name="p-gw")
    assert not device.is_gateway and device.label == "x"


BAD_POLICIES = [
    {"reprovisionPolicy": "SOMETIMES"}, {"derivedSecrets": "yes"}, {"maxDevices": -1}, {"maxDevices": "ten"},
    {"maxProvisionsPerMinute": 0}, {"provisionUntil": "next week"}, {"provisionTemplate": {"colour": "red"}},
    {"provisionTemplate": {"serverAttributes": ["a"]}}, {"provisionTemplate": "{not json"},
    {"provisionTemplate": {"gateway": "yes"}}, {"reprovisionPolicy": 3}, {"provisionUntil": True},
]


async def test_bad_policy_values_are_400(running):
    for bad in BAD_POLICIES:
        body = {"name": "Bad", "provisionType": "ALLOW_CREATE_NEW_DEVICES",
                "profileData": {"provisionConfiguration": {"type": "ALLOW_CREATE_NEW_DEVICES", **bad}}}
        status, reply = await running.admin("POST", "/api/deviceProfile", body)
        assert status == 400 and "message" in reply, (bad, reply)
    # malformed proof in a request: 400 (HTTP), never a 5xx
    status, _ = await running.provision(provisionDeviceKey=running.key, provisionDeviceSecret=running.secret,
                                        deviceName="m", currentCredentials=["not", "a", "token"])
    assert status == 400


# -- quotas --------------------------------------------------------------------------------------


async def test_quotas_on_every_backend(running_db):
    events = []
    running_db.hub.bus.listen(ProvisionFailed, events.append)
    await make_profile(running_db, "Two", "q2", "s", maxDevices=2)
    assert [(await http(running_db, "q2", "s", deviceName=f"q-{i}"))["status"] for i in range(3)] == \
        ["SUCCESS", "SUCCESS", "FAILURE"]
    row = await last_failure(running_db)
    assert row.details["quota"] == "maxDevices" and "2 of 2" in row.reason
    # at most 3 a minute, whatever arrives at once (counted in the database: every node shares it)
    await make_profile(running_db, "Rate", "qr", "s", maxProvisionsPerMinute=3)
    window = time.time() // 60
    bodies = await asyncio.gather(*[http(running_db, "qr", "s", deviceName=f"r-{i}") for i in range(12)])
    if time.time() // 60 != window:  # the minute turned over mid-burst: a new window opened
        pytest.skip("the burst crossed a minute boundary")
    assert sum(b["status"] == "SUCCESS" for b in bodies) == 3
    await make_profile(running_db, "Ended", "qe", "s", provisionUntil="2020-01-01")
    assert await http(running_db, "qe", "s", deviceName="late") == FAILURE
    assert (await last_failure(running_db)).details["quota"] == "provisionUntil"
    quotas = [e.quota for e in events if e.quota]
    assert quotas[0] == "maxDevices" and quotas[-1] == "provisionUntil" and quotas.count("maxProvisionsPerMinute") == 9


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_rate_quota_is_shared_by_two_nodes(tmp_path, db_url):
    """Node A in this process, node B a `gridlinks run` process on the same PostgreSQL
    database: the minute's slots are rows there, so the limit holds over both."""
    from tests.plugins.cluster_redis.test_two_nodes import PLUGINS, node_b

    await redis_or_skip()  # several nodes on one database need the cluster bus
    node_a = await start_hub(hub_config(tmp_path / "a", db_url=db_url, redis_url=REDIS_URL, plugins=PLUGINS))
    try:
        await make_profile(node_a, "Shared rate", "sr", "s", maxProvisionsPerMinute=4)
        async with node_b(tmp_path, db_url) as (ports, _):
            b = dataclasses.replace(node_a, base_url=f"http://127.0.0.1:{ports['GRIDLINKS_HTTP_PORT']}")
            window = time.time() // 60
            bodies = await asyncio.gather(*[http(node, "sr", "s", deviceName=f"n-{i}")
                                            for i, node in enumerate([node_a, b] * 6)])
            if time.time() // 60 != window:
                pytest.skip("the burst crossed a minute boundary")
            assert sum(r["status"] == "SUCCESS" for r in bodies) == 4
    finally:
        await stop_hub(node_a)


# -- secret rotation --------------------------------------------------------------------------------


async def test_rotation_overlap_then_finish_over_rest(hub):
    profile = await make_profile(hub, "Rotated", "rotkey", "old-secret")
    pid = profile["id"]["id"]
    status, rotated = await hub.admin("POST", f"/api/deviceProfile/{pid}/rotateSecret", {})
    assert status == 200
    new = rotated["profileData"]["provisionConfiguration"]["provisionDeviceSecret"]
    assert new != "old-secret" and "old-secret" not in json.dumps(rotated)
    assert rotated["profileData"]["provisionConfiguration"]["secretRotation"]["previousExpiresAt"] is None
    # both secrets provision during the overlap, on each transport
    assert (await http(hub, "rotkey", "old-secret", deviceName="o-1"))["status"] == "SUCCESS"
    assert (await mqtt(hub, "rotkey", new, deviceName="o-2"))["status"] == "SUCCESS"
    assert (await coap(hub, "rotkey", "old-secret", deviceName="o-3"))["status"] == "SUCCESS"
    # a second rotation while one runs is refused; a REST save of the profile keeps the rotation
    assert (await hub.admin("POST", f"/api/deviceProfile/{pid}/rotateSecret", {}))[0] == 400
    assert (await hub.admin("POST", "/api/deviceProfile", rotated))[0] == 200
    assert (await http(hub, "rotkey", "old-secret", deviceName="o-4"))["status"] == "SUCCESS"
    status, done = await hub.admin("POST", f"/api/deviceProfile/{pid}/rotateSecret", {"finish": True})
    assert status == 200 and "secretRotation" not in done["profileData"]["provisionConfiguration"]
    assert await http(hub, "rotkey", "old-secret", deviceName="o-5") == NOT_FOUND
    assert (await http(hub, "rotkey", new, deviceName="o-6"))["status"] == "SUCCESS"
    steps = [r.details["step"] for r in await AuditEvent.filter(action="profile_secret_rotated").order_by("id")]
    assert steps == ["started", "finished"]
    assert (await hub.admin("POST", f"/api/deviceProfile/{pid}/rotateSecret", {"finish": True}))[0] == 400
    assert (await hub.admin("POST", f"/api/deviceProfile/{pid}/rotateSecret", {"expireOldAfter": "soon"}))[0] == 400


async def test_rotation_with_derived_secrets_and_expiry(hub):
    profile = await make_profile(hub, "Rotated derived", "rdkey", "gen-1", derivedSecrets=True)
    pid = profile["id"]["id"]
    status, rotated = await hub.admin("POST", f"/api/deviceProfile/{pid}/rotateSecret",
                                      {"secret": "gen-2", "expireOldAfter": "1s"})
    assert status == 200
    assert rotated["profileData"]["provisionConfiguration"]["secretRotation"]["previousExpiresAt"] > 0
    assert (await http(hub, "rdkey", derive_secret("gen-1", "e-1"), deviceName="e-1"))["status"] == "SUCCESS"
    assert (await http(hub, "rdkey", derive_secret("gen-2", "e-2"), deviceName="e-2"))["status"] == "SUCCESS"
    await asyncio.sleep(1.1)
    assert await http(hub, "rdkey", derive_secret("gen-1", "e-3"), deviceName="e-3") == NOT_FOUND
    assert (await http(hub, "rdkey", derive_secret("gen-2", "e-4"), deviceName="e-4"))["status"] == "SUCCESS"
    # a secret replaced outright (not rotated) ends a running rotation: the old one stops at once
    assert (await hub.admin("POST", f"/api/deviceProfile/{pid}/rotateSecret", {"secret": "gen-3"}))[0] == 200
    rotated["profileData"]["provisionConfiguration"]["provisionDeviceSecret"] = "gen-4"
    status, saved = await hub.admin("POST", "/api/deviceProfile", rotated)
    assert status == 200 and "secretRotation" not in saved["profileData"]["provisionConfiguration"]
    assert await http(hub, "rdkey", derive_secret("gen-2", "e-5"), deviceName="e-5") == NOT_FOUND


# -- hostile input ----------------------------------------------------------------------------


def test_policy_inputs_never_answer_5xx(tmp_path):
    """Random policy members, proofs, rotation bodies and device names against the new
    input surfaces: 200 or 4xx, never 5xx (bounded hypothesis run on one hub)."""
    from urllib.parse import quote

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    loop = asyncio.new_event_loop()
    running = loop.run_until_complete(start_hub(hub_config(tmp_path / "data")))
    profile = loop.run_until_complete(make_profile(running, "Fuzzed", "fz", "fz-secret", reprovisionPolicy="ROTATE",
                                                   derivedSecrets=True))
    pid = profile["id"]["id"]
    scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                       st.text(max_size=40))
    def nested(inner):
        return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)

    json_value = st.recursive(scalar, nested, max_leaves=8)
    members = st.sampled_from(["derivedSecrets", "reprovisionPolicy", "provisionTemplate", "maxDevices",
                               "maxProvisionsPerMinute", "provisionUntil", "secretRotation"])

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(config=st.dictionaries(members, json_value, max_size=4), proof=json_value, rotate=json_value,
           name=st.text(max_size=60))
    def probe(config, proof, rotate, name):
        async def go():
            body = {"name": "Fuzzed config", "provisionType": "ALLOW_CREATE_NEW_DEVICES",
                    "profileData": {"provisionConfiguration": {"type": "ALLOW_CREATE_NEW_DEVICES", **config}}}
            answers = [
                await running.admin("POST", "/api/deviceProfile", body),
                await running.provision(provisionDeviceKey="fz", provisionDeviceSecret="x", deviceName=name,
                                        currentCredentials=proof),
                await running.admin("POST", f"/api/deviceProfile/{pid}/rotateSecret", rotate),
                await running.admin("GET", f"/api/deviceProfile/{pid}/derivedSecret?deviceName={quote(name)}"),
            ]
            await running.admin("POST", f"/api/deviceProfile/{pid}/rotateSecret", {"finish": True})
            status, saved = answers[0]
            if status == 200:  # a saved fuzzed profile goes, so the next example can save its own
                await running.admin("DELETE", f"/api/deviceProfile/{saved['id']['id']}")
            return [status for status, _ in answers]

        got = loop.run_until_complete(asyncio.wait_for(go(), 30))
        assert all(status < 500 for status in got), got

    try:
        probe()
    finally:
        loop.run_until_complete(stop_hub(running))
        loop.close()


def test_derived_secret_computation_and_factory_secret():
    """The documented 3-line computation (docs/provisioning.md), and the helper the bulk
    import report calls."""
    import base64
    import hashlib
    import hmac

    from gridlinks.core.services.provision_policy import factory_secret
    from gridlinks.core.storage.models import DeviceProfile

    expected = base64.b64encode(hmac.new(b"profile-secret", b"SN-0001", hashlib.sha256).digest()).decode()
    assert derive_secret("profile-secret", "SN-0001") == expected == "wPa9oHqXnA0E4fW6ExdQevvL+4gz9GtCYLWtLazsldg="
    derived = DeviceProfile(provision_secret="profile-secret", provision_config={"derivedSecrets": True})
    assert factory_secret(derived, " SN-0001 ") == expected
    assert factory_secret(derived, "") is None
    assert factory_secret(DeviceProfile(provision_secret="profile-secret", provision_config={}), "SN-0001") is None


@pytest.mark.parametrize("text", ["²", "1²", "³d", "\u0663"])
def test_unicode_digits_are_refused_as_bad_input_not_errors(text):
    """``str.isdigit`` accepts "²", which ``int()`` refuses: such input is a 400, never a 500."""
    from gridlinks.core.errors import BadRequest
    from gridlinks.core.services.provision_policy import parse_duration_ms, parse_until

    with pytest.raises(BadRequest):
        parse_duration_ms(text)
    with pytest.raises(BadRequest):
        parse_until(text)
