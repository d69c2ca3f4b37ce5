"""The approval inbox over real sockets: a device of a profile with approval "manual"
is parked (FAILURE plus "pending": true) over HTTP and MQTT, listed once however often
it asks, approved over REST (tenant admin JWT) or with the `gridlinks pending` command,
then its next identical request succeeds; a different request after approval, a
rejection and an expired request are refused or parked again, every transition audited."""

from __future__ import annotations

import asyncio
import json

import pytest

from gridlinks.core.services.provisioning import FAILURE_BODY
from gridlinks.core.storage.models import Device
from gridlinks.plugins.approval.models import PendingProvision
from tests.cli_support import cli
from tests.mqtt_wire import MqttWire
from tests.support import hub_config, provision_named, start_hub, stop_hub, with_mqtt_ports

PENDING_BODY = {**FAILURE_BODY, "pending": True}


@pytest.fixture
async def inbox(tmp_path):
    running = with_mqtt_ports(await start_hub(hub_config(
        tmp_path / "data", approval={"pending_ttl_s": 60.0, "sweep_s": 0.2},
        mqtt={"provision_close_delay_s": 0.1})))
    running.data_dir = tmp_path / "data"
    profile = await running.hub.profiles.by_provision_key(running.key)
    await running.hub.profiles.update(profile, config={**profile.provision_config, "approval": "manual"})
    try:
        yield running
    finally:
        await stop_hub(running)




async def mqtt_provision(running, name, **extra) -> dict:
    client, rc = await MqttWire.connect(running.mqtt_port, username="provision")
    assert rc == 0
    try:
        assert await client.subscribe("/provision/response", qos=1) == 1
        body = {"deviceName": name, "provisionDeviceKey": running.key, "provisionDeviceSecret": running.secret,
                **extra}
        await client.publish("/provision/request", json.dumps(body), qos=1)
        topic, payload, _ = await client.message()
        return json.loads(payload)
    finally:
        await client.close()


async def pending(running, status="pending"):
    code, page = await running.admin("GET", f"/api/provision/pending?status={status}")
    assert code == 200, page
    return page["data"]


async def audit_actions(running, name):
    code, page = await running.admin("GET", "/api/audit/logs?pageSize=200")
    assert code == 200
    return [e["action"] for e in reversed(page["data"]) if e.get("deviceName") == name]


async def test_http_parked_approved_by_rest_then_identical_retry_succeeds(inbox):
    for _ in range(3):
        assert await provision_named(inbox, "hall-1", token="hall-1-token") == PENDING_BODY
    assert not await Device.filter(name="hall-1").exists()
    rows = await pending(inbox)
    assert [(r["deviceName"], r["attempts"], r["credentialsType"], r["transport"]) for r in rows] == \
        [("hall-1", 3, "ACCESS_TOKEN", "HTTP")]
    assert "hall-1-token" not in json.dumps(rows) and inbox.secret not in json.dumps(rows)
    assert await PendingProvision.filter(device_name="hall-1").count() == 1

    # only a tenant admin decides
    code, _ = await inbox.post(f"/api/provision/pending/{rows[0]['id']}/approve")
    assert code == 401
    code, body = await inbox.admin("POST", "/api/provision/pending/not-an-id/approve")
    assert code == 404, body
    code, row = await inbox.admin("POST", f"/api/provision/pending/{rows[0]['id']}/approve", {"reason": "known"})
    assert code == 200 and row["status"] == "approved" and row["decidedBy"] == "admin@test.local", row
    code, body = await inbox.admin("POST", f"/api/provision/pending/{rows[0]['id']}/approve")
    assert code == 400, body  # the admin API answers a Conflict as 400 (errorCode 31), as the reference

    # a different request (another token) is not the approved one
    assert await provision_named(inbox, "hall-1", token="other-token") == FAILURE_BODY
    body = await provision_named(inbox, "hall-1", token="hall-1-token")
    assert body["status"] == "SUCCESS" and body["credentialsValue"] == "hall-1-token"
    assert await pending(inbox, "provisioned") != [] and await pending(inbox, "open") == []
    assert await audit_actions(inbox, "hall-1") == [
        "provision_parked", "provision_failed", "provision_failed", "provision_failed", "provision_approved",
        "provision_failed", "device_provisioned", "provision_approval_used"]


async def test_mqtt_parked_approved_by_cli_then_retry_succeeds(inbox):
    assert await mqtt_provision(inbox, "mqtt-1") == PENDING_BODY
    assert await mqtt_provision(inbox, "mqtt-1") == PENDING_BODY
    rows = await pending(inbox)
    assert [(r["deviceName"], r["transport"], r["attempts"]) for r in rows] == [("mqtt-1", "MQTT", 2)]
    listed = await asyncio.to_thread(cli, inbox.data_dir, "pending", "list", "--json")
    assert [r["deviceName"] for r in json.loads(listed.stdout)] == ["mqtt-1"]
    done = await asyncio.to_thread(cli, inbox.data_dir, "pending", "approve", "--device", "mqtt-1")
    assert "approved" in done.stdout
    body = await mqtt_provision(inbox, "mqtt-1")
    assert body["status"] == "SUCCESS" and body["deviceName"] == "mqtt-1"


async def test_reject_by_rest(inbox):
    assert await provision_named(inbox, "intruder-1") == PENDING_BODY
    row = (await pending(inbox))[0]
    code, body = await inbox.admin("POST", f"/api/provision/pending/{row['id']}/reject", {"reason": "unknown box"})
    assert code == 200 and body["status"] == "rejected"
    assert await provision_named(inbox, "intruder-1") == FAILURE_BODY  # stays refused, not parked again
    assert await pending(inbox) == [] and len(await pending(inbox, "rejected")) == 1
    assert "provision_rejected" in await audit_actions(inbox, "intruder-1")


async def test_parked_requests_expire_and_are_audited(tmp_path):
    running = await start_hub(hub_config(tmp_path / "data", approval={"pending_ttl_s": 0.5, "sweep_s": 0.2}))
    try:
        profile = await running.hub.profiles.by_provision_key(running.key)
        await running.hub.profiles.update(profile, config={"approval": "manual"})
        assert await provision_named(running, "late-1") == PENDING_BODY
        first = (await pending(running))[0]["id"]
        for _ in range(50):
            await asyncio.sleep(0.1)
            if await PendingProvision.filter(id=first, status="expired").exists():
                break
        expired = await PendingProvision.get(id=first)
        assert expired.status == "expired" and expired.live is None
        code, body = await running.admin("POST", f"/api/provision/pending/{first}/approve")
        assert code == 400, body  # the admin API answers a Conflict as 400 (errorCode 31), as the reference
        assert await provision_named(running, "late-1") == PENDING_BODY  # parked again, as a new request
        assert (await pending(running))[0]["id"] != first
        assert "provision_approval_expired" in await audit_actions(running, "late-1")
    finally:
        await stop_hub(running)


async def test_nameless_and_auto_profiles(inbox):
    status, body = await inbox.provision(provisionDeviceKey=inbox.key, provisionDeviceSecret=inbox.secret)
    assert body == FAILURE_BODY  # manual approval needs a name to recognise the retry
    profile = await inbox.hub.profiles.by_provision_key(inbox.key)
    await inbox.hub.profiles.update(profile, config={"approval": "auto"})
    assert (await provision_named(inbox, "auto-1"))["status"] == "SUCCESS"


async def test_on_every_database(tmp_path, db_url):
    """SQLite and PostgreSQL: one open row per device (the unique constraint with a NULL
    ``live`` for closed rows), guarded transitions, approval then success."""
    running = await start_hub(hub_config(tmp_path / "data", db_url=db_url))
    try:
        profile = await running.hub.profiles.by_provision_key(running.key)
        await running.hub.profiles.update(profile, config={"approval": "manual"})
        results = await asyncio.gather(*(provision_named(running, "db-1") for _ in range(4)))
        assert results == [PENDING_BODY] * 4
        rows = await pending(running)
        assert len(rows) == 1 and rows[0]["attempts"] >= 1
        code, _ = await running.admin("POST", f"/api/provision/pending/{rows[0]['id']}/approve")
        assert code == 200
        assert (await provision_named(running, "db-1"))["status"] == "SUCCESS"
        assert await provision_named(running, "db-2") == PENDING_BODY  # a closed row does not block new ones
        assert len(await pending(running, "all")) == 2
    finally:
        await stop_hub(running)
