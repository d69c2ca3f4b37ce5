"""Secrets in the dashboard over real HTTP: the claim secret, a device's credentials, the
profile secret and secret-named attributes are never in a page's HTML; Reveal fetches
one (tenant admins only, CSRF-checked, audited); "Set claim data" is audited with the
acting user; "Claimed devices since" is the claim time; the telemetry history charts.
Plus the masking and chart helpers on their own (with bounded hypothesis fuzzing)."""

from __future__ import annotations

import json
import re
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridlinks.core.services.bootstrap import default_tenant
from gridlinks.core.storage.models import AuditEvent, Device, DeviceProfile, Scope
from gridlinks.web.dashboard.chart import Point, history_chart, nice_range, provisioning_chart
from gridlinks.web.dashboard.history import BUCKETS, MAX_POINTS, telemetry_history
from gridlinks.web.dashboard.masking import MASK, is_secret_name, redact, shown
from gridlinks.web.dashboard.stats import Bucket
from tests.browser.support import DashboardClient
from tests.support import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.web.test_dashboard import customer_client

CLAIM_SECRET = "s3cret-claim-key-42"


async def _admin(running) -> DashboardClient:
    client = DashboardClient(running.base_url)
    assert await client.login(ADMIN_EMAIL, ADMIN_PASSWORD) == 200
    return client


async def _reveal(client: DashboardClient, kind: str, ref, csrf: str | None = None):
    headers = {"X-CSRF-Token": client.csrf if csrf is None else csrf}
    async with client.session.post(f"{client.base_url}/ui/reveal/{kind}/{ref}", headers=headers,
                                   allow_redirects=False) as r:
        return r.status, await r.text()


async def test_secrets_stay_out_of_the_html_and_reveal_is_checked_and_audited(running):
    hub = running.hub
    status, body = await running.provision(deviceName="masked-1", provisionDeviceKey=running.key,
                                           provisionDeviceSecret=running.secret)
    token = body["credentialsValue"]
    device = await Device.get(name="masked-1")
    await running.post(f"/api/v1/{token}/attributes", json={"apiPassword": "client-pass-9", "fw": "1.2"})
    admin = await _admin(running)
    customer, _ = await customer_client(running, "Masking Inc", "mia@masking.test")
    try:
        status, _, _ = await admin.post(f"/ui/devices/{device.id}/claim-data",
                                        {"secret": CLAIM_SECRET, "valid_hours": "2"})
        assert status == 303
        status, html, _ = await admin.get(f"/ui/devices/{device.id}")
        assert status == 200 and "claim pending" in html
        for secret in (CLAIM_SECRET, token, "client-pass-9"):
            assert secret not in html
        assert MASK in html and "1.2" in html  # the attribute row is there, its secret member masked

        # The reference stores claimingData as JSON text: masked all the same.
        await hub.devices.set_attributes(device, Scope.SERVER, {"claimingData": json.dumps(
            {"secretKey": "text-form-secret", "expirationTime": int(time.time() * 1000) + 60_000})})
        status, html, _ = await admin.get(f"/ui/devices/{device.id}")
        assert "text-form-secret" not in html and "claim pending" in html

        # Reveal: tenant admin with the CSRF token only; each reveal is an audit row.
        assert (await _reveal(admin, "claim-secret", device.id, csrf="0" * 64))[0] == 403
        status, text = await _reveal(admin, "claim-secret", device.id)
        assert status == 200 and json.loads(text) == {"value": "text-form-secret"}
        status, text = await _reveal(admin, "credentials", device.id)
        assert status == 200 and json.loads(text) == {"value": token}
        assert (await _reveal(admin, "no-such-kind", device.id))[0] == 404
        assert (await _reveal(admin, "claim-secret", "not-a-uuid"))[0] == 404
        for kind, ref in (("profile-secret", device.id), ("credentials", "%00"), ("claim-secret", "x" * 300),
                          ("claim-secret", "ü%F0%9F%92%A5"), ("profile-secret", "")):
            status, _ = await _reveal(admin, kind, ref)
            assert 400 <= status < 500, (kind, ref, status)
        assert (await _reveal(customer, "claim-secret", device.id))[0] == 403
        rows = await AuditEvent.filter(action="secret_revealed").order_by("id")
        assert [(r.actor, r.details["secret"], r.device_name) for r in rows] == [
            (ADMIN_EMAIL, "claim secret", "masked-1"), (ADMIN_EMAIL, "device credentials", "masked-1")]
        assert all(token not in json.dumps(r.details) for r in rows)

        # The profile secret: not in the credentials card, not in the Settings field.
        profile = await DeviceProfile.get(provision_key=running.key)
        status, html, _ = await admin.get(f"/ui/profiles/{profile.id}")
        assert status == 200 and running.secret not in html and running.key in html
        assert re.search(r'<input id="secret" type="password" name="secret" value=""', html)
        status, text = await _reveal(admin, "profile-secret", profile.id)
        assert json.loads(text) == {"value": running.secret}
        # Saving the form with the field left empty keeps the secret.
        status, _, _ = await admin.post(f"/ui/profiles/{profile.id}", {
            "name": profile.name, "provision_type": profile.provision_type, "key": running.key, "secret": ""})
        assert status == 303
        assert (await DeviceProfile.get(id=profile.id)).provision_secret == running.secret
    finally:
        await admin.close()
        await customer.close()


async def test_set_claim_data_is_audited_with_the_acting_user_and_the_favicon_is_served(running):
    hub = running.hub
    tenant = await default_tenant(hub)
    profile = await DeviceProfile.get(tenant=tenant, is_default=True)
    device = await hub.devices.create(tenant, profile, "audited-claim")
    admin = await _admin(running)
    try:
        status, _, _ = await admin.post(f"/ui/devices/{device.id}/claim-data", {"secret": "", "valid_hours": "3"})
        assert status == 303
        status, html, _ = await admin.post(f"/ui/devices/{device.id}/claim-data", {"valid_hours": "nan"})
        assert status == 400
        status, _, _ = await admin.post(f"/ui/devices/{device.id}/claim-data/delete")
        assert status == 303
    finally:
        await admin.close()
    rows = await AuditEvent.filter(action="claim_data_changed").order_by("id")
    assert [(r.outcome, r.actor, r.transport, r.device_name, r.details["change"]) for r in rows] == [
        ("SUCCESS", ADMIN_EMAIL, "DASHBOARD", "audited-claim", "set"),
        ("FAILURE", ADMIN_EMAIL, "DASHBOARD", "audited-claim", "set"),
        ("SUCCESS", ADMIN_EMAIL, "DASHBOARD", "audited-claim", "removed")]
    assert rows[0].details["generated"] is True and rows[0].details["expiration_ms"] > rows[0].ts
    assert "Valid for" in rows[1].reason
    assert all("secretKey" not in json.dumps(r.details) for r in rows)
    # (and the same hub serves its icon, so no page logs a missing favicon)
    for path in ("/favicon.ico", "/ui/static/favicon.svg"):
        async with running.session.get(running.base_url + path) as r:
            assert r.status == 200 and r.content_type == "image/svg+xml", path
            assert (await r.text()).startswith("<svg")


async def test_claimed_devices_since_is_the_claim_time_not_the_creation_time(running):
    hub = running.hub
    tenant = await default_tenant(hub)
    profile = await DeviceProfile.get(tenant=tenant, is_default=True)
    device = await hub.devices.create(tenant, profile, "old-box")
    created = 1_600_000_000_000  # 2020
    await Device.filter(id=device.id).update(created_ms=created)
    await hub.devices.set_attributes(device, Scope.SERVER, {"claimingData": {
        "secretKey": "box", "expirationTime": int(time.time() * 1000) + 60_000}})
    customer, _ = await customer_client(running, "Since Ltd", "sam@since.test")
    admin = await _admin(running)
    try:
        status, _, _ = await customer.post("/ui/claim", {"device": "old-box", "secret": "box"})
        assert status == 303
        claim = await AuditEvent.get(action="device_claimed", outcome="SUCCESS", device_id=device.id)
        status, html, _ = await customer.get("/ui/my-devices")
        cell = re.search(r'class="small claimed-at">(.*?)</td>', html, re.S).group(1)
        assert f'data-ts="{claim.ts}"' in cell and str(created) not in html
        status, html, _ = await admin.get(f"/ui/devices/{device.id}")
        assert f'data-ts="{claim.ts}"' in re.search(r'id="device-claimed-at">(.*?)</dd>', html, re.S).group(1)
    finally:
        await customer.close()
        await admin.close()


async def test_history_chart_thins_a_busy_key_in_the_database(running_db):
    hub = running_db.hub
    tenant = await default_tenant(hub)
    profile = await DeviceProfile.get(tenant=tenant, is_default=True)
    device = await hub.devices.create(tenant, profile, "busy")
    now = int(time.time() * 1000)
    rows = [(now - i * 60_000, {"load": i % 17, "state": "on"}) for i in range(MAX_POINTS + 300)]
    await hub.devices.queue_telemetry(device, rows)
    latest = await hub.devices.latest_telemetry(device)
    history = await telemetry_history(device, latest, now=now)
    assert [h.key for h in history] == ["load"]  # the text key gets no chart
    assert 100 < history[0].points <= BUCKETS + 1
    assert str(history[0].chart).count('class="point"') == history[0].points


# -- the helpers on their own ----------------------------------------------------------------

def test_redact_masks_secret_members_at_any_depth_and_in_json_text():
    value = {"secretKey": "a", "nested": [{"password": "b", "ok": 1}], "accessToken": "c", "fw": "1"}
    assert redact(value) == {"secretKey": MASK, "nested": [{"password": MASK, "ok": 1}], "accessToken": MASK,
                             "fw": "1"}
    assert "zz-secret" not in redact('{"secretKey": "zz-secret", "expirationTime": 5}')
    assert redact("{not json") == "{not json"
    assert shown("anything", "deviceSecret") == MASK and shown({"a": 1}, "config") == '{"a": 1}'


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                      max_size=4), max_leaves=20)


def _secret_members(value):
    if isinstance(value, dict):
        for k, v in value.items():
            if is_secret_name(k):
                yield v
            else:
                yield from _secret_members(v)
    elif isinstance(value, list):
        for v in value:
            yield from _secret_members(v)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values, secret=st.text(min_size=1, max_size=20))
def test_shown_never_contains_a_secret_member(value, secret):
    text = shown({"wrap": value, "secretKey": secret, "deep": [{"token": secret}]}, "claimingData")
    parsed = json.loads(text)
    members = list(_secret_members(parsed))
    assert len(members) >= 2 and all(m == MASK for m in members)


def test_chart_labels_are_text_and_points_are_drawn():
    start = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000
    chart = str(provisioning_chart([Bucket(start + i * 3_600_000, i % 3, i % 2) for i in range(24)]))
    assert chart.count("<rect") == 48 and 'preserveAspectRatio="none"' in chart
    assert re.findall(r'%">([\d.]+)</span>', chart) == ["0", "2", "4"]  # whole counts on the value axis
    assert re.findall(r'class="tick(?: minor)?" style="left:[\d.]+%">\d\d:00<', chart)  # HTML labels
    points = [Point(start + i * 600_000, 20 + i * 0.5) for i in range(10)]
    history = str(history_chart("temp<x>", points, start, start + 86_400_000))
    assert history.count('class="point"') == 10 and "<polyline" in history and "temp&lt;x&gt;" in history
    assert nice_range(5, 5)[0] < 5 < nice_range(5, 5)[1] and nice_range(0, 37)[1] >= 37
