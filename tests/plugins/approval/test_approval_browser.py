"""The approval inbox in a real browser (Debian's chromium driven by Playwright): the
tenant admin switches manual approval on in the profile form and keeps the inbox open,
an unknown device asks to be provisioned over HTTP and appears without a reload (live
feed), the admin approves it in the page, and the device's retry succeeds - its row
then leaves the inbox, again live."""

from __future__ import annotations

import pytest

from tests.browser.support import ARTIFACTS, CHROMIUM, launch_chromium
from tests.plugins.approval.test_approval import PENDING_BODY
from tests.support import ADMIN_EMAIL, ADMIN_PASSWORD, hub_config, provision_named, start_hub, stop_hub

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: run `make test` to install it")


@pytest.fixture
async def manual(tmp_path):
    running = await start_hub(hub_config(tmp_path / "data"))
    try:
        yield running
    finally:
        await stop_hub(running)


async def test_inbox_approve_in_the_page_then_the_retry_succeeds(manual):
    async with playwright_api.async_playwright() as pw:
        browser = await launch_chromium(pw)
        try:
            context = await browser.new_context(viewport={"width": 1366, "height": 900})
            context.set_default_timeout(15000)
            page = await context.new_page()
            await page.goto(manual.base_url + "/ui/login")
            await page.fill("#email", ADMIN_EMAIL)
            await page.fill("#password", ADMIN_PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_load_state()
            # Manual approval is switched on in the profile form.
            profile = await manual.hub.profiles.by_provision_key(manual.key)
            await page.goto(f"{manual.base_url}/ui/profiles/{profile.id}")
            await page.check("input[name=approval]")
            await page.click("form.stack button[type=submit]")
            await page.wait_for_selector(".alert >> text=Profile saved")
            profile = await manual.hub.profiles.by_provision_key(manual.key)
            assert profile.provision_config.get("approval") is True

            await page.click(".nav >> text=Approval inbox")
            await page.wait_for_selector("#inbox-status.on")
            assert await page.locator("tr[data-device]").count() == 0

            # The device asks; its row appears live.
            assert await provision_named(manual, "browser-dev-1", token="browser-token-1") == PENDING_BODY
            row = page.locator("tr[data-device='browser-dev-1'][data-status=pending]")
            await row.wait_for()
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "approval-inbox.png"), full_page=True)

            await row.locator("button", has_text="Approve").click()
            await page.wait_for_selector(".alert >> text=browser-dev-1 approved", timeout=30_000)
            await page.wait_for_selector("tr[data-device='browser-dev-1'][data-status=approved]")
            await page.wait_for_selector("#inbox-status.on")

            body = await provision_named(manual, "browser-dev-1", token="browser-token-1")
            assert body["status"] == "SUCCESS" and body["credentialsValue"] == "browser-token-1"
            await page.wait_for_selector("tr[data-device='browser-dev-1']", state="detached")
        finally:
            await browser.close()
