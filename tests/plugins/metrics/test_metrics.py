"""GET /metrics: the Prometheus exposition parses, its families move after real
requests, the token is enforced, and device refusals reach the audit log sparingly."""

from __future__ import annotations

import asyncio

import pytest
from aiocoap import Code
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from gridlinks.core.events import DeviceAuthFailed, DeviceProvisioned
from gridlinks.core.services.rejections import DeviceRejections, mask_token
from gridlinks.core.version import hub_version
from tests.claim_support import audit_outcomes
from tests.mqtt_wire import MqttWire
from tests.support import hub_config, start_hub, stop_hub, with_mqtt_ports

FAMILIES = {"gridlinks_provisions", "gridlinks_claims", "gridlinks_device_auth_failures", "gridlinks_open_sessions",
            "gridlinks_commit_batch_units", "gridlinks_commit_seconds", "gridlinks_devices", "gridlinks_build_info"}
TOKEN = "scrape-token-0123456789"


async def scrape(running, token: str | None = TOKEN) -> dict[str, dict[tuple, float]]:
    """{family: {(sample name, sorted labels): value}} from a real GET /metrics."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with running.session.get(running.base_url + "/metrics", headers=headers) as r:
        assert r.status == 200, await r.text()
        assert r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        samples = out.setdefault(family.name, {})
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(families, family: str, sample: str, **labels) -> float:
    return families.get(family, {}).get((sample, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_families_move_after_requests_and_token_is_enforced(tmp_path):
    running = with_mqtt_ports(await start_hub(hub_config(tmp_path / "data", metrics={"token": TOKEN})))
    try:
        async with running.session.get(running.base_url + "/metrics") as r:
            assert r.status == 401 and (await r.json())["status"] == 401
        async with running.session.get(running.base_url + "/metrics",
                                       headers={"Authorization": "Bearer wrong-token-0123456789"}) as r:
            assert r.status == 401

        before = await scrape(running)
        assert FAMILIES <= set(before), set(before)
        [(sample, labels)] = before["gridlinks_build_info"]
        assert sample == "gridlinks_build_info" and dict(labels)["version"] == hub_version()

        status, body = await running.provision(deviceName="m-1", provisionDeviceKey=running.key,
                                               provisionDeviceSecret=running.secret)
        assert status == 200 and body["status"] == "SUCCESS"
        await running.provision(deviceName="m-2", provisionDeviceKey=running.key, provisionDeviceSecret="nope")
        token = body["credentialsValue"]
        assert (await running.post(f"/api/v1/{token}/telemetry", json={"t": 1}))[0] == 200
        assert (await running.post("/api/v1/not-a-token-at-all/telemetry", json={"t": 1}))[0] == 401
        assert (await running.post(f"/api/v1/{token}/telemetry", data=b"{not json"))[0] == 400
        client = await MqttWire.connect(running.mqtt_port, username=token)
        assert client[1] == 0

        after = await scrape(running)
        assert value(after, "gridlinks_provisions", "gridlinks_provisions_total", transport="HTTP",
                     outcome="SUCCESS") == 1
        refused = {dict(labels)["outcome"]: v for (name, labels), v in after["gridlinks_provisions"].items()
                   if name == "gridlinks_provisions_total" and dict(labels)["outcome"] != "SUCCESS"}
        assert sum(refused.values()) == 1, refused  # the wrong secret: NOT_FOUND, as the reference answers
        assert value(after, "gridlinks_device_auth_failures", "gridlinks_device_auth_failures_total",
                     transport="HTTP") == 1
        assert value(after, "gridlinks_device_requests_rejected", "gridlinks_device_requests_rejected_total",
                     transport="HTTP", status="400") == 1
        assert value(after, "gridlinks_devices", "gridlinks_devices") == 1
        assert value(after, "gridlinks_open_sessions", "gridlinks_open_sessions", transport="MQTT") == 1
        assert value(after, "gridlinks_open_sessions", "gridlinks_open_sessions", transport="HTTP") >= 1
        moved = value(after, "gridlinks_commit_batch_units", "gridlinks_commit_batch_units_count")
        assert moved > value(before, "gridlinks_commit_batch_units", "gridlinks_commit_batch_units_count")
        assert value(after, "gridlinks_commit_seconds", "gridlinks_commit_seconds_count") == moved
        # Another node's provisioning, relayed by cluster_redis, is that node's to count.
        await running.hub.bus.fire(DeviceProvisioned(
            outcome="SUCCESS", tenant_id="t", device_id="d", device_name="elsewhere", transport="HTTP",
            profile="p", credentials_type="ACCESS_TOKEN", audited=True, remote=True))
        relayed = await scrape(running)
        assert value(relayed, "gridlinks_provisions", "gridlinks_provisions_total", transport="HTTP",
                     outcome="SUCCESS") == 1
        await client[0].close()
    finally:
        await stop_hub(running)


async def test_metrics_can_be_turned_off(tmp_path):
    running = await start_hub(hub_config(tmp_path / "data", metrics={"enabled": False}))
    try:
        assert (await running.get("/metrics"))[0] == 404
    finally:
        await stop_hub(running)


async def test_device_401_on_every_transport_is_audited_with_the_token_masked(running, coap):
    bad = "wrong-token-abcdefghij"
    assert (await running.post(f"/api/v1/{bad}/telemetry", json={"t": 1}))[0] == 401
    answer = await coap.request(Code.POST, f"/api/v1/{bad}/telemetry", b'{"t": 1}')
    assert answer.code == Code.UNAUTHORIZED
    running = with_mqtt_ports(running)
    client, rc = await MqttWire.connect(running.mqtt_port, username=bad)
    assert rc != 0 and client is None
    status, page = await running.admin("GET", "/api/audit/logs?action=device_auth_failed&pageSize=100")
    assert status == 200
    rows = page["data"]
    assert sorted(row["transport"] for row in rows) == ["COAP", "HTTP", "MQTT"], rows
    for row in rows:
        assert row["outcome"] == "FAILURE" and row["details"]["token"] == mask_token(bad) == "wro***(22)"
        assert bad not in str(row)


async def test_a_flood_of_bad_requests_makes_one_audit_row_per_window(running):
    posts = [running.post(f"/api/v1/flood-{i:04d}-0123456789/telemetry", json={}) for i in range(60)]
    assert {status for status, _ in await asyncio.gather(*posts)} == {401}
    assert await audit_outcomes(running, "device_auth_failed") == ["FAILURE"]


async def test_suppressed_refusals_are_counted_in_the_next_audited_row():
    """The throttle alone, on a fake clock: first of a window audited, the rest counted."""
    fired: list[DeviceAuthFailed] = []

    class Bus:
        async def fire(self, event):
            fired.append(event)

    now = [0.0]
    rejections = DeviceRejections(Bus(), window_s=60, clock=lambda: now[0])
    for _ in range(5):
        await rejections.auth_failed("HTTP", "401", "unknown access token", "t" * 20)
    now[0] = 61.0
    await rejections.auth_failed("HTTP", "401", "unknown access token", "t" * 20)
    await rejections.auth_failed("COAP", "4.01", "unknown access token", None)
    assert [e.audited for e in fired] == [False, True, True, True, True, False, False]
    assert fired[5].suppressed == 4 and fired[0].suppressed is None and fired[6].token is None


@pytest.fixture
def scrape_sync(tmp_path):
    """For hypothesis (sync): a hub with a metrics token on its own loop, and a function
    that scrapes /metrics with a given Authorization header and returns the status."""
    loop = asyncio.new_event_loop()
    running = loop.run_until_complete(start_hub(hub_config(tmp_path / "data", metrics={"token": TOKEN})))

    def status_for(header: str) -> int:
        async def go():
            async with running.session.get(running.base_url + "/metrics", headers={"Authorization": header}) as r:
                if r.status == 401:
                    assert (await r.json())["status"] == 401
                return r.status
        return loop.run_until_complete(asyncio.wait_for(go(), 10))

    try:
        yield status_for
    finally:
        loop.run_until_complete(stop_hub(running))
        loop.close()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.text(st.characters(min_codepoint=32, max_codepoint=255, blacklist_categories=("Cc",)), max_size=80)
       | st.sampled_from(["Bearer", "Bearer ", f"bearer {TOKEN}", f"Bearer  {TOKEN} ", f"Basic {TOKEN}",
                          f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x", "Bearer \u00e9\u00e9"]))
def test_metrics_authorization_header_fuzz(scrape_sync, header):
    """Any Authorization header: 200 only with the token, else 401 JSON; never a 5xx."""
    expected = 200 if header.partition(" ")[0].lower() == "bearer" and header.partition(" ")[2].strip() == TOKEN \
        else 401
    assert scrape_sync(header) == expected


async def test_a_refused_body_is_audited_against_its_device(running):
    status, body = await running.provision(deviceName="body-1", provisionDeviceKey=running.key,
                                           provisionDeviceSecret=running.secret)
    token = body["credentialsValue"]
    for _ in range(3):
        assert (await running.post(f"/api/v1/{token}/telemetry", data=b"{nope"))[0] == 400
    status, page = await running.admin("GET", "/api/audit/logs?action=device_request_rejected")
    [row] = page["data"]
    assert row["deviceName"] == "body-1" and row["transport"] == "HTTP" and row["details"]["status"] == "400"
    assert token not in str(row)


async def test_coap_refused_bodies_are_reported(running, coap):
    status, body = await running.provision(deviceName="coap-body", provisionDeviceKey=running.key,
                                           provisionDeviceSecret=running.secret)
    token = body["credentialsValue"]
    answer = await coap.request(Code.POST, f"/api/v1/{token}/telemetry", b"{nope")
    assert answer.code == Code.BAD_REQUEST
    answer = await coap.request(Code.POST, f"/api/v1/{token}/telemetry", b"x" * (64 * 1024 + 1))
    assert answer.code == Code.REQUEST_ENTITY_TOO_LARGE
    status, page = await running.admin("GET", "/api/audit/logs?action=device_request_rejected")
    assert sorted(row["details"]["status"] for row in page["data"]) == ["4.00", "4.13"], page
    assert {row["transport"] for row in page["data"]} == {"COAP"}
