"""The dashboard over real HTTP: sign-in and cookies, CSRF on every form, who may open
what, the live feed, the device list's pages and filters, bulk import, claiming, and
the hook that lets plugins add pages."""

from __future__ import annotations

import asyncio
import json
import uuid

import aiohttp
import pytest

from gridlinks.core import hookimpl
from gridlinks.core.config import DEFAULT_PLUGINS
from gridlinks.core.events import DeviceProvisioned, Event
from gridlinks.core.services.bootstrap import default_tenant
from gridlinks.core.storage.models import AuditEvent, Authority, Device, DeviceProfile, Tenant
from gridlinks.web.dashboard.pages import CUSTOMER, Page
from tests.browser.support import DashboardClient, csrf_from
from tests.support import ADMIN_EMAIL, ADMIN_PASSWORD, hub_config, start_hub, stop_hub

PASSWORD = "customer-password-1"


@pytest.fixture
async def admin(running):
    client = DashboardClient(running.base_url)
    assert await client.login(ADMIN_EMAIL, ADMIN_PASSWORD) == 200
    yield client
    await client.close()


async def customer_client(running, title: str, email: str) -> tuple[DashboardClient, object]:
    hub = running.hub
    tenant = await default_tenant(hub)
    customer = await hub.customers.create(tenant, title)
    await hub.customers.add_user(customer, email, PASSWORD)
    client = DashboardClient(running.base_url)
    assert await client.login(email, PASSWORD) == 200
    return client, customer


async def test_login_sets_httponly_samesite_cookie_and_logout_ends_it(running):
    client = DashboardClient(running.base_url)
    try:
        status, html, _ = await client.get("/ui/overview")
        assert status == 303  # not signed in: to the login page, remembering where to go
        status, html, _ = await client.get("/ui/login")
        status, html, _ = await client.post("/ui/login", {"email": ADMIN_EMAIL, "password": "wrong-password",
                                                          "csrf_token": csrf_from(html)}, csrf=False)
        assert status == 401 and "Invalid username or password" in html
        status, html, _ = await client.get("/ui/login")
        status, _, response = await client.post("/ui/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD,
                                                              "csrf_token": csrf_from(html), "next": "/ui/devices"},
                                                csrf=False)
        assert status == 303 and response.headers["Location"] == "/ui/devices"
        cookie = [v for k, v in response.headers.items() if k == "Set-Cookie" and v.startswith("gl_session=")][0]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/ui" in cookie
        status, html, _ = await client.get("/ui/devices")
        assert status == 200 and ADMIN_EMAIL in html
        client.csrf = csrf_from(html)
        status, _, response = await client.post("/ui/logout")
        assert status == 303
        status, _, response = await client.get("/ui/devices")
        assert status == 303 and response.headers["Location"].startswith("/ui/login")
    finally:
        await client.close()


async def test_login_refuses_an_offsite_next(running):
    client = DashboardClient(running.base_url)
    try:
        status, html, _ = await client.get("/ui/login?next=//evil.example/x")
        assert 'name="next" value=""' in html
        status, _, response = await client.post("/ui/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD,
                                                              "csrf_token": csrf_from(html),
                                                              "next": "https://evil.example/"}, csrf=False)
        assert status == 303 and response.headers["Location"] == "/ui/overview"
    finally:
        await client.close()


async def test_forms_without_the_csrf_token_are_refused(running, admin):
    before = await DeviceProfile.all().count()
    status, html, _ = await admin.post("/ui/profiles/new", {"name": "No token", "provision_type": "DISABLED"},
                                       csrf=False)
    assert status == 403 and "CSRF" in html
    status, html, _ = await admin.post("/ui/profiles/new", {"name": "Wrong token", "provision_type": "DISABLED",
                                                             "csrf_token": "0" * 64}, csrf=False)
    assert status == 403
    assert await DeviceProfile.all().count() == before
    status, _, _ = await admin.post("/ui/profiles/new", {"name": "With token", "provision_type": "DISABLED"})
    assert status == 303
    assert await DeviceProfile.filter(name="With token").exists()
    # The login form needs its own token too (no login CSRF).
    fresh = DashboardClient(running.base_url)
    try:
        status, _, _ = await fresh.post("/ui/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, csrf=False)
        assert status == 403
    finally:
        await fresh.close()


async def test_customer_users_cannot_open_tenant_pages_or_other_customers_devices(running):
    hub = running.hub
    alice, acme = await customer_client(running, "Acme", "alice@acme.test")
    bob, _ = await customer_client(running, "Globex", "bob@globex.test")
    tenant = await default_tenant(hub)
    profile = await DeviceProfile.get(tenant=tenant, is_default=True)
    device = await hub.devices.create(tenant, profile, "acme-meter")
    await Device.filter(id=device.id).update(customer_id=acme.id)
    try:
        for path in ("/ui/overview", "/ui/devices", f"/ui/devices/{device.id}", "/ui/profiles", "/ui/audit",
                     "/ui/customers", "/ui/events", "/ui/import"):
            status, html, _ = await bob.get(path)
            assert status == 403, path
            assert "Not allowed" in html
        status, _, _ = await bob.post(f"/ui/devices/{device.id}/delete")
        assert status == 403
        status, html, _ = await bob.get(f"/ui/my-devices/{device.id}")
        assert status == 404
        status, _, _ = await bob.post(f"/ui/my-devices/{device.id}/reclaim")
        assert status == 404
        assert (await Device.get(id=device.id)).customer_id == acme.id
        status, html, _ = await alice.get(f"/ui/my-devices/{device.id}")
        assert status == 200 and "acme-meter" in html
        status, html, _ = await bob.get("/ui/my-devices")
        assert status == 200 and "acme-meter" not in html
        status, _, response = await bob.get("/ui/")
        assert response.headers["Location"] == "/ui/my-devices"
    finally:
        await alice.close()
        await bob.close()


async def test_a_tenant_admin_sees_only_their_tenant(running, admin):
    hub = running.hub
    other = await Tenant.create(name="Other tenant")
    profile = await hub.profiles.create(other, "theirs")
    device = await hub.devices.create(other, profile, "their-device")
    await hub.auth.create_user("other@tenant.test", PASSWORD, Authority.TENANT_ADMIN, other)
    status, _, _ = await admin.get(f"/ui/devices/{device.id}")
    assert status == 404
    status, _, _ = await admin.get(f"/ui/profiles/{profile.id}")
    assert status == 404
    status, html, _ = await admin.get("/ui/devices?q=their")
    assert "their-device" not in html


async def _read_feed_until(response: aiohttp.ClientResponse, wanted: str, limit_s: float = 10) -> list[dict]:
    events = []

    async def read():
        async for line in response.content:
            text = line.decode().strip()
            if text.startswith("data: "):
                events.append(json.loads(text[6:]))
                if wanted in text:
                    return
    await asyncio.wait_for(read(), limit_s)
    return events


async def test_live_feed_streams_this_tenants_events_and_unsubscribes(running, admin):
    hub = running.hub
    baseline = hub.bus.listening(Event)
    async with admin.session.get(running.base_url + "/ui/events") as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
        await asyncio.wait_for(response.content.readline(), 5)  # the stream is open
        assert hub.bus.listening(Event) == baseline + 1
        await hub.bus.fire(DeviceProvisioned(outcome="SUCCESS", tenant_id=str(uuid.uuid4()),
                                             device_id=str(uuid.uuid4()), device_name="not-mine", transport="HTTP",
                                             profile="other", credentials_type="ACCESS_TOKEN"))
        status, body = await running.provision(deviceName="feed-device", provisionDeviceKey=running.key,
                                               provisionDeviceSecret=running.secret)
        assert body["status"] == "SUCCESS"
        events = await _read_feed_until(response, "feed-device")
    assert all(e.get("device_name") != "not-mine" for e in events)
    provisioned = [e for e in events if e["type"] == "device_provisioned"][0]
    assert provisioned["outcome"] == "SUCCESS" and provisioned["transport"] == "HTTP"
    assert "credentialsValue" not in json.dumps(events)
    for _ in range(100):  # the listener goes when the browser does (bounded wait, no timing assertion)
        if hub.bus.listening(Event) == baseline:
            break
        await asyncio.sleep(0.1)
    assert hub.bus.listening(Event) == baseline


async def test_device_list_pages_filters_and_counts(running, admin):
    hub = running.hub
    tenant = await default_tenant(hub)
    profile = await DeviceProfile.get(tenant=tenant, is_default=True)
    await Device.bulk_create([Device(tenant=tenant, profile=profile, name=f"bulk-{i:03d}", type=profile.name,
                                     created_ms=1_700_000_000_000 + i // 2) for i in range(57)])
    status, body = await running.provision(deviceName="fresh-one", provisionDeviceKey=running.key,
                                           provisionDeviceSecret=running.secret)
    seen, path, pages = [], "/ui/devices", 0
    while path and pages < 10:
        status, html, _ = await admin.get(path)
        assert status == 200
        seen += [n for n in __import__("re").findall(r'>((?:bulk-\d+)|fresh-one)</a>', html)]
        nxt = __import__("re").search(r'rel="next" href="([^"]+)"', html)
        path = nxt.group(1).replace("&amp;", "&") if nxt else None
        pages += 1
    assert pages == 3 and len(seen) == 58 and len(set(seen)) == 58
    assert seen[0] == "fresh-one"  # newest first
    status, html, _ = await admin.get("/ui/devices?provisioned=yes")
    assert "fresh-one" in html and "bulk-" not in html
    status, html, _ = await admin.get("/ui/devices?provisioned=no&q=bulk-05")
    assert html.count('>bulk-05') == 7 and "7 matching devices" in html
    status, html, _ = await admin.get("/ui/devices?claimed=yes")
    assert "No device matches" in html
    status, html, _ = await admin.get("/ui/devices?after=garbage&profile=not-a-uuid")
    assert status == 200


async def test_profiles_create_edit_regenerate_delete(running, admin):
    status, _, response = await admin.post("/ui/profiles/new", {
        "name": "Thermostat v2", "provision_type": "CHECK_PRE_PROVISIONED_DEVICES", "dynamic_registration": "on"})
    assert status == 303
    profile = await DeviceProfile.get(name="Thermostat v2")
    assert len(profile.provision_key) == 20 and profile.provision_config == {"dynamicRegistration": True}
    status, html, _ = await admin.get(response.headers["Location"])
    assert profile.provision_key in html and "ProductSN" in html
    old_key = profile.provision_key
    status, _, _ = await admin.post(f"/ui/profiles/{profile.id}/regenerate")
    profile = await DeviceProfile.get(id=profile.id)
    assert profile.provision_key != old_key
    status, html, _ = await admin.post("/ui/profiles/new", {"name": "Dup", "provision_type": "ALLOW_CREATE_NEW_DEVICES",
                                                             "key": profile.provision_key})
    assert status == 400 and "already exists" in html
    status, _, _ = await admin.post(f"/ui/profiles/{profile.id}", {"name": "Thermostat v3",
                                                                    "provision_type": "ALLOW_CREATE_NEW_DEVICES"})
    profile = await DeviceProfile.get(id=profile.id)
    assert profile.name == "Thermostat v3" and profile.provision_config == {}
    status, _, _ = await admin.post(f"/ui/profiles/{profile.id}/delete")
    assert status == 303 and not await DeviceProfile.filter(id=profile.id).exists()


async def test_bulk_import_preview_run_and_report(running, admin):
    csv_text = ("name,type,access_token,server:color\nimp-1,Imported,tok-imp-1,red\nimp-2,Imported,tok-imp-1,blue\n"
                ",Imported,,\nimp-3,Imported,,green\n")
    form = aiohttp.FormData()
    form.add_field("file", csv_text.encode(), filename="devices.csv", content_type="text/csv")
    form.add_field("delimiter", "comma")
    form.add_field("header", "on")
    status, _, response = await admin.post("/ui/import", form)
    assert status == 303
    job = response.headers["Location"]
    status, html, _ = await admin.get(job)
    assert "imp-2" in html and 'value="ACCESS_TOKEN" selected' in html and 'value="color"' in html
    status, _, _ = await admin.post(job + "/run", {"width": "4", "type_0": "NAME", "type_1": "TYPE",
                                                   "type_2": "ACCESS_TOKEN", "type_3": "SERVER_ATTRIBUTE",
                                                   "key_3": "color", "update": "on"})
    assert status == 303
    for _ in range(100):
        status, body, _ = await admin.get(job + "/status")
        if json.loads(body)["state"] != "running":
            break
        await asyncio.sleep(0.05)
    result = json.loads(body)["result"]
    assert result["created"] == 2 and result["errors"] == 2
    assert result["errorsList"] == [
        "Line 3 (device imp-2, column ACCESS_TOKEN): Device credentials are already assigned to another device!",
        "Line 4 (column NAME): device name is empty"]
    status, html, _ = await admin.get(job)
    assert 'id="import-created">2<' in html and "Line 3 (device imp-2, column ACCESS_TOKEN):" in html
    status, html, _ = await admin.get("/ui/import")  # the job is listed with its report
    assert "devices.csv" in html and job.rsplit("/", 1)[1] in html
    row = await AuditEvent.get(action="bulk_import_finished")  # audited with who ran it and the file
    assert row.actor == ADMIN_EMAIL and row.details["file_name"] == "devices.csv"
    device = await Device.get(name="imp-1")
    assert await running.hub.devices.attribute_value(device, "SERVER_SCOPE", "color") == "red"


async def test_claim_data_qr_widget_and_reclaim(running, admin):
    hub = running.hub
    tenant = await default_tenant(hub)
    profile = await DeviceProfile.get(tenant=tenant, is_default=True)
    device = await hub.devices.create(tenant, profile, "claim-me")
    status, _, _ = await admin.post(f"/ui/devices/{device.id}/claim-data", {"secret": "s3cret-key", "valid_hours": "2"})
    assert status == 303
    status, html, _ = await admin.get(f"/ui/devices/{device.id}")
    assert "claim pending" in html and "<svg" in html and "claim#device=claim-me&amp;secret=s3cret-key" not in html
    customer, _ = await customer_client(running, "Initech", "peter@initech.test")
    try:
        status, html, _ = await customer.post("/ui/claim", {"device": "claim-me", "secret": "wrong"})
        assert status == 400 and "Failed to claim device" in html
        status, html, _ = await customer.post("/ui/claim", {"device": "no-such-device", "secret": "x"})
        assert status == 404 and "Device not found" in html
        status, _, response = await customer.post("/ui/claim", {"device": "claim-me", "secret": "s3cret-key"})
        assert status == 303 and response.headers["Location"] == f"/ui/my-devices/{device.id}"
        status, html, _ = await customer.get("/ui/my-devices")
        assert "claim-me" in html and "Device was successfully claimed" in html
        status, _, _ = await customer.post(f"/ui/my-devices/{device.id}/reclaim")
        assert status == 303 and (await Device.get(id=device.id)).customer_id is None
    finally:
        await customer.close()
    status, html, _ = await admin.get("/ui/audit?action=device_claimed")
    assert html.count("peter@initech.test") == 3


async def test_error_pages_are_friendly_html(running, admin):
    for path, status_code in (("/ui/devices/not-a-uuid", 404), (f"/ui/devices/{uuid.uuid4()}", 404),
                              ("/ui/no/such/page", 404)):
        status, html, response = await admin.get(path)
        assert status == status_code and response.content_type == "text/html"
        assert "Back to the dashboard" in html
    status, html, _ = await admin.post("/ui/devices/new", {"name": "", "profile": str(uuid.uuid4())})
    assert status == 400 and "Back to the dashboard" not in html  # form errors stay on the form


class ExtraPages:
    """A third-party plugin adding a customer page and a menu entry."""

    @hookimpl
    def register_dashboard_pages(self, hub, register):
        from aiohttp import web

        async def hello(request):
            return web.Response(text="hello from a plugin", content_type="text/html")
        register(Page("/hello", hello, "plugin_hello", audience=CUSTOMER, menu="Plugin page", order=90))


async def test_plugins_add_pages_and_menu_entries(tmp_path):
    config = hub_config(tmp_path / "data", plugins=[*DEFAULT_PLUGINS, "extra_pages"])
    running = await start_hub(config, extra_plugins={"extra_pages": ExtraPages()})
    try:
        customer, _ = await customer_client(running, "Plugins Inc", "carol@plugins.test")
        admin = DashboardClient(running.base_url)
        await admin.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        try:
            status, html, _ = await customer.get("/ui/my-devices")
            assert 'href="/ui/hello"' in html and "Plugin page" in html
            status, html, _ = await customer.get("/ui/hello")
            assert status == 200 and html == "hello from a plugin"
            status, html, _ = await admin.get("/ui/hello")
            assert status == 403  # the page's audience is enforced for plugin pages too
            status, html, _ = await admin.get("/ui/overview")
            assert "Plugin page" not in html
        finally:
            await admin.close()
            await customer.close()
    finally:
        await stop_hub(running)


# -- the profile form is drawn from the strategies' and plugins' settings models ----------

def fieldset(html: str, legend: str) -> str:
    """The <fieldset> whose legend is ``legend`` (with its opening tag)."""
    start = html.rindex("<fieldset", 0, html.index(f"<legend>{legend}</legend>"))
    return html[start:html.index("</fieldset>", start)]


async def test_profile_form_is_drawn_from_the_settings_models(running, admin):
    status, html, _ = await admin.get("/ui/profiles/new")
    assert status == 200
    chain = fieldset(html, "X.509 certificate chain")
    assert 'data-strategy="X509_CERTIFICATE_CHAIN"' in chain
    assert 'name="certificate"' in chain and "CA or intermediate certificate (PEM)" in chain
    assert 'name="regex"' in chain and 'value="(.*)"' in chain and "Certificate CN pattern" in chain
    assert 'name="allow_create_x509" checked' in chain  # the model's default
    keys = fieldset(html, "Key and secret")
    assert set(keys.split('data-strategy="')[1].split('"')[0].split()) == {
        "DISABLED", "ALLOW_CREATE_NEW_DEVICES", "CHECK_PRE_PROVISIONED_DEVICES"}
    assert html.count('name="key"') == 1 and html.count('name="secret"') == 1  # shared fields drawn once
    gateways = fieldset(html, "Gateways")
    assert 'data-strategy="ALLOW_CREATE_NEW_DEVICES"' in gateways and 'name="allow_gateways"' in gateways
    assert "checked" not in gateways
    dynamic = fieldset(html, "Dynamic registration (“one type, one secret”)")
    assert "data-strategy" not in dynamic and 'name="dynamic_registration"' in dynamic


async def test_chain_and_gateway_profiles_through_the_form(running, admin, tmp_path):
    from tests.plugins.x509.certs import Cert
    ca = Cert(tmp_path, "Form CA", ca=True)
    status, _, response = await admin.post("/ui/profiles/new", {
        "name": "Chain", "provision_type": "X509_CERTIFICATE_CHAIN", "certificate": ca.pem,
        "regex": r"^unit-(\d+)$", "key": "ignored", "secret": "ignored"})
    assert status == 303
    profile = await DeviceProfile.get(name="Chain")
    assert profile.provision_secret == ca.pem.strip() and len(profile.provision_key) == 64
    assert profile.provision_config == {"certificateRegExPattern": r"^unit-(\d+)$",
                                        "allowCreateNewDevicesByX509Certificate": False}
    status, html, _ = await admin.get(response.headers["Location"])
    assert "Regenerate key and secret" not in html and 'id="profile-secret"' not in html
    assert ca.pem.strip().splitlines()[1] in fieldset(html, "X.509 certificate chain")
    assert 'value="^unit-(\\d+)$"' in html or "^unit-(\\d+)$" in html

    status, _, response = await admin.post("/ui/profiles/new", {
        "name": "Gateways", "provision_type": "ALLOW_CREATE_NEW_DEVICES", "allow_gateways": "on"})
    profile = await DeviceProfile.get(name="Gateways")
    assert profile.provision_config == {"allowGateways": True}
    status, html, _ = await admin.get(response.headers["Location"])
    assert 'name="allow_gateways" checked' in fieldset(html, "Gateways")


class SiteSettings:
    """A third-party strategy with settings of its own: the form draws and saves them
    although the dashboard has never heard of them."""

    @hookimpl
    def register_provision_strategies(self, hub, register):
        from pydantic import ConfigDict, Field

        from gridlinks.core.types import KeyAndSecret, ProvisionPlan

        class SiteModel(KeyAndSecret):
            model_config = ConfigDict(title="Site rules")
            site: str = Field("hall-a", alias="siteName", title="Site name", description="Where devices stand.")
            strict: bool = Field(False, alias="strictSite", title="Refuse other sites")

        class SiteStrategy:
            name = "SITE_ONLY"
            config_model = SiteModel

            async def plan(self, request, profile):
                return ProvisionPlan(new_device_name=request.device_name)

        register(SiteStrategy())


async def test_a_plugin_strategy_gets_its_settings_in_the_form(tmp_path):
    config = hub_config(tmp_path / "data", plugins=[*DEFAULT_PLUGINS, "site_settings"])
    running = await start_hub(config, extra_plugins={"site_settings": SiteSettings()})
    admin = DashboardClient(running.base_url)
    try:
        assert await admin.login(ADMIN_EMAIL, ADMIN_PASSWORD) == 200
        status, html, _ = await admin.get("/ui/profiles/new")
        site = fieldset(html, "Site rules")
        assert 'data-strategy="SITE_ONLY"' in site and "Site name" in site and 'value="hall-a"' in site
        assert "Where devices stand." in site and 'name="strictSite"' in site
        assert "SITE_ONLY" in fieldset(html, "Key and secret")
        status, _, _ = await admin.post("/ui/profiles/new", {"name": "Site", "provision_type": "SITE_ONLY",
                                                             "siteName": "hall-b", "strictSite": "on"})
        assert status == 303
        profile = await DeviceProfile.get(name="Site")
        assert profile.provision_config == {"siteName": "hall-b", "strictSite": True}
        assert len(profile.provision_key) == 20
    finally:
        await admin.close()
        await stop_hub(running)


async def test_profile_form_refuses_bad_settings_in_its_own_terms(running, admin, no_tracebacks):
    bad = [
        {"provision_type": "X509_CERTIFICATE_CHAIN", "certificate": "not a certificate"},
        {"provision_type": "X509_CERTIFICATE_CHAIN", "certificate": "-----BEGIN CERTIFICATE-----\n\x00\xff"},
        {"provision_type": "X509_CERTIFICATE_CHAIN", "certificate": "", "regex": "([unclosed"},
        {"provision_type": "NO_SUCH_STRATEGY", "allow_gateways": "on"},
        {"provision_type": "ALLOW_CREATE_NEW_DEVICES", "allow_gateways": "maybe"},
    ]
    for i, fields in enumerate(bad):
        status, html, _ = await admin.post("/ui/profiles/new", {"name": f"bad-{i}", **fields})
        assert status in (303, 400), (fields, status)
        if status == 400:
            assert 'role="alert"' in html
    profile = await DeviceProfile.get_or_none(name="bad-4")
    assert profile is None or profile.provision_config == {}  # "maybe" is not a yes


async def test_a_background_fragment_fetch_leaves_the_message_for_the_page(running, admin):
    """The flash cookie set by an action's redirect is shown by the next page, even when a
    live table's fetch (Sec-Fetch-Mode: cors) reaches the hub first and renders too."""
    from urllib.parse import quote

    from gridlinks.web.dashboard.render import FLASH_COOKIE

    admin.session.cookie_jar.update_cookies({FLASH_COOKIE: quote("ok:Device d-1 approved.")})
    status, html, response = await admin.get("/ui/devices", headers={"Sec-Fetch-Mode": "cors"})
    assert status == 200 and "Device d-1 approved." not in html
    assert FLASH_COOKIE not in response.cookies  # not cleared by the background fetch
    status, html, response = await admin.get("/ui/devices", headers={"Sec-Fetch-Mode": "navigate"})
    assert status == 200 and "Device d-1 approved." in html
    assert response.cookies[FLASH_COOKIE].value == ""  # cleared by the page that showed it
