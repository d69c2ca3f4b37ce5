"""The dashboard in a real browser (Debian's chromium driven by Playwright), the way an
integrator and their customer use it: the tenant admin signs in, creates a profile,
watches a device provisioned over HTTP appear in the live feed, imports a CSV, creates
a customer and a user, sets claim data; the customer opens the QR code's link on a
phone-sized screen, signs in, claims the device, sees it under "my devices" and
releases it again. Screenshots of every main page go to tests/artifacts/."""

from __future__ import annotations

import asyncio
import re

import pytest

from gridlinks.core.storage.models import Device, DeviceProfile
from tests.browser.support import ARTIFACTS, CHROMIUM, launch_chromium
from tests.support import ADMIN_EMAIL, ADMIN_PASSWORD

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: run `make test` to install it")

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
CSV = ("name,type,label,server:serial\n"
       "browser-imp-1,Browser profile,Hall A,SN-001\n"
       "browser-imp-2,Browser profile,Hall B,SN-002\n"
       "browser-imp-3,Browser profile,Hall C,SN-003\n")


async def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def sign_in(page, base: str, email: str, password: str) -> None:
    await page.fill("#email", email)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await page.wait_for_load_state()


async def test_tenant_admin_and_customer_in_a_real_browser(running):
    base = running.base_url
    async with playwright_api.async_playwright() as pw:
        browser = await launch_chromium(pw)
        try:
            admin_ctx = await browser.new_context(viewport=DESKTOP)
            admin_ctx.set_default_timeout(15000)
            page = await admin_ctx.new_page()
            page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))

            # Sign in and create a profile.
            await page.goto(base + "/ui/")
            await shot(page, "01-login")
            await sign_in(page, base, ADMIN_EMAIL, ADMIN_PASSWORD)
            assert page.url.endswith("/ui/overview")
            await page.click("text=New profile")
            await page.fill("#name", "Browser profile")
            await page.select_option("#provision_type", "ALLOW_CREATE_NEW_DEVICES")
            await page.click("form.stack button[type=submit]")
            await page.wait_for_selector("#profile-key")
            key = await page.get_attribute("#profile-key", "data-value")
            assert await page.get_attribute("#profile-secret", "data-value") is None  # not in the page
            await page.click("[data-reveal=profile-secret]")
            await page.wait_for_selector("#profile-secret[data-shown='1']")
            secret = await page.inner_text("#profile-secret")
            assert secret == (await DeviceProfile.get(provision_key=key)).provision_secret
            await shot(page, "02-profile")

            # A device provisioned over HTTP appears in the live feed.
            await page.goto(base + "/ui/overview")
            await page.wait_for_selector("#feed-status.on")
            status, body = await running.provision(deviceName="live-device-1", provisionDeviceKey=key,
                                                   provisionDeviceSecret=secret)
            assert body["status"] == "SUCCESS"
            await page.wait_for_selector("#feed li[data-type=device_provisioned] >> text=live-device-1")
            await running.provision(deviceName="live-device-2", provisionDeviceKey=key,
                                    provisionDeviceSecret="wrong-secret")
            await page.wait_for_selector("#feed li[data-type=provision_failed]")
            await shot(page, "03-overview-live-feed")
            await page.reload()
            assert await page.inner_text("#count-today") == "1"
            await shot(page, "03b-overview-counts-chart")

            # Bulk import: upload, preview the mapping, run, read the report.
            await page.click("text=Bulk import")
            await page.set_input_files("#file", files=[{"name": "devices.csv", "mimeType": "text/csv",
                                                        "buffer": CSV.encode()}])
            await page.click("form.stack button[type=submit]")
            await page.wait_for_selector("#preview")
            assert await page.input_value("select[name=type_3]") == "SERVER_ATTRIBUTE"
            assert await page.input_value("input[name=key_3]") == "serial"
            await shot(page, "04-import-preview")
            await page.click("#start-import")
            await page.wait_for_selector("#import-report")
            assert await page.inner_text("#import-created") == "3"
            await shot(page, "05-import-report")

            # Devices list and a device page with claim data and its QR code.
            await page.click(".nav >> text=Devices")
            await page.wait_for_selector("#device-table >> text=browser-imp-2")
            await shot(page, "06-devices")
            await page.click("#device-table >> text=browser-imp-2")
            await page.fill("#claim-secret-input", "box-secret-42")
            await page.click("#set-claim-data")
            await page.wait_for_selector("#claim-qr svg")
            assert await page.inner_text("#claim-state") == "claim pending"
            await shot(page, "07-device-claim-qr")

            # A customer and a customer user, through the customers pages.
            await page.click(".nav >> text=Customers")
            await page.fill("#title", "Acme Corp")
            await page.click("text=Create customer")
            await page.fill("#email", "ann@acme.test")
            await page.fill("#password", "ann-password-1")
            await page.click("text=Add user")
            await page.wait_for_selector("#user-table >> text=ann@acme.test")
            await shot(page, "08-customer")

            # The customer scans the QR code on a phone: the link carries name and secret in its fragment.
            device = await Device.get(name="browser-imp-2")
            phone_ctx = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
            phone_ctx.set_default_timeout(15000)
            phone = await phone_ctx.new_page()
            phone.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
            await phone.goto(base + "/ui/claim#device=browser-imp-2&secret=box-secret-42")
            assert "/ui/login" in phone.url
            await shot(phone, "09-phone-login")
            await sign_in(phone, base, "ann@acme.test", "ann-password-1")
            await phone.wait_for_selector("form[data-claim-widget]")
            assert await phone.input_value("#device") == "browser-imp-2"
            assert await phone.input_value("#secret") == "box-secret-42"
            await shot(phone, "10-phone-claim-widget")
            await phone.click("form[data-claim-widget] button[type=submit]")
            await phone.wait_for_url(re.compile(rf".*/ui/my-devices/{device.id}$"))
            assert "Device was successfully claimed" in await phone.inner_text(".alert")
            await shot(phone, "11-phone-my-device")
            await phone.goto(base + "/ui/my-devices")
            await phone.wait_for_selector("#my-device-table >> text=browser-imp-2")
            await shot(phone, "12-phone-my-devices")
            assert (await Device.get(id=device.id)).customer_id is not None

            # The admin sees the claim; the customer re-claims (releases) the device.
            await page.goto(base + f"/ui/devices/{device.id}")
            assert await page.inner_text("#device-customer") == "Acme Corp"
            await phone.click("#my-device-table >> text=Release")
            await phone.wait_for_selector("text=can be claimed again")
            assert "browser-imp-2" not in await phone.inner_text("#my-device-table")
            assert (await Device.get(id=device.id)).customer_id is None

            # The remaining pages, at desktop and phone width.
            await page.goto(base + "/ui/audit")
            await page.wait_for_selector("#audit-table >> text=device claimed")
            await shot(page, "13-audit")
            admin_phone = await browser.new_context(viewport=PHONE, is_mobile=True,
                                                    storage_state=await admin_ctx.storage_state())
            small = await admin_phone.new_page()
            for path, name in (("/ui/overview", "14-phone-overview"), ("/ui/devices", "15-phone-devices"),
                               (f"/ui/devices/{device.id}", "16-phone-device")):
                await small.goto(base + path)
                assert await small.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
                await shot(small, name)
            await small.click("label.menu-button")
            await small.wait_for_selector(".nav >> text=Audit log", state="visible")
            await shot(small, "17-phone-menu")
        finally:
            await browser.close()
