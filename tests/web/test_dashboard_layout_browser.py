"""The dashboard's layout in Debian's chromium (Playwright): the Roles page at a laptop's
1366 px and a phone's 390 px with no element wider than its card (bounding boxes compared
in the page), the device page's telemetry history chart with points after telemetry was
posted over HTTP, a masked secret revealed on purpose, and no console error on any page
visited (the favicon included). Screenshots go to tests/artifacts/."""

from __future__ import annotations

import time

import pytest

from gridlinks.core.services.bootstrap import default_tenant
from gridlinks.core.storage.models import Device
from tests.browser.support import ARTIFACTS, CHROMIUM, launch_chromium
from tests.support import ADMIN_EMAIL, ADMIN_PASSWORD

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: run `make test` to install it")

LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}

# Every visible element inside a card must lie within the card's box (0.5 px rounding).
OUTSIDE_ITS_CARD = """() => {
  const out = [];
  for (const card of document.querySelectorAll('.card')) {
    const c = card.getBoundingClientRect();
    for (const el of card.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.left < c.left - 0.5 || r.right > c.right + 0.5 || r.width > c.width + 0.5)
        out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} ${r.left.toFixed(0)}..${r.right.toFixed(0)}`
                 + ` outside card ${card.id || ''} ${c.left.toFixed(0)}..${c.right.toFixed(0)}`);
    }
  }
  return out;
}"""


async def _page(browser, viewport, errors: list[str], state=None):
    ctx = await browser.new_context(viewport=viewport, is_mobile=viewport is PHONE, storage_state=state)
    ctx.set_default_timeout(15000)
    page = await ctx.new_page()
    page.on("console", lambda msg: errors.append(f"{page.url}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    return ctx, page


async def test_roles_fit_history_chart_and_no_console_errors(running):
    hub = running.hub
    base = running.base_url
    tenant = await default_tenant(hub)
    acme = await hub.customers.create(tenant, "Acme Corporation International Holdings")
    await hub.customers.add_user(acme, "a.rather.long.email.address@acme-corporation.example", "password-123")
    await hub.permissions.create_role(tenant, "Claimers", {"DEVICE": ["CLAIM_DEVICES", "READ"],
                                                           "DEVICE_PROFILE": ["READ", "WRITE", "CREATE", "DELETE"]})
    await hub.permissions.create_group(tenant, "Field technicians of the northern region", acme)

    # A device with telemetry over the last hours, posted over HTTP like firmware does.
    status, body = await running.provision(deviceName="thermo-7", provisionDeviceKey=running.key,
                                           provisionDeviceSecret=running.secret)
    token = body["credentialsValue"]
    now = int(time.time() * 1000)
    rows = [{"ts": now - i * 900_000, "values": {"temperature": 20 + i % 6, "mode": "auto"}} for i in range(40)]
    status, _ = await running.post(f"/api/v1/{token}/telemetry", json=rows)
    assert status == 200
    status, _ = await running.post(f"/api/v1/{token}/telemetry", json={"temperature": 23.5})
    device = await Device.get(name="thermo-7")
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []

    async with playwright_api.async_playwright() as pw:
        browser = await launch_chromium(pw)
        try:
            ctx, page = await _page(browser, LAPTOP, errors)
            await page.goto(base + "/ui/login")
            await page.fill("#email", ADMIN_EMAIL)
            await page.fill("#password", ADMIN_PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url("**/ui/overview")
            signed_in = await ctx.storage_state()
            phone_ctx, phone = await _page(browser, PHONE, errors, signed_in)

            for view, tab in (("laptop", page), ("phone", phone)):
                await tab.goto(base + "/ui/roles")
                await tab.wait_for_selector("#permission-matrix")
                await tab.screenshot(path=str(ARTIFACTS / f"roles-{view}.png"), full_page=True)
                assert await tab.evaluate(OUTSIDE_ITS_CARD) == [], view
                assert await tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), view
                # Every permission box and the whole "claim devices" column can be reached.
                boxes = await tab.locator("#permission-matrix input[type=checkbox]").count()
                assert boxes == 30
                assert await tab.locator("#permission-matrix input[value='USER:CLAIM_DEVICES']").is_visible()
            # A role made on the phone, from the stacked permission rows.
            await phone.fill("#role-name", "Phone role")
            await phone.check("#permission-matrix input[value='DEVICE:CLAIM_DEVICES']")
            await phone.click("text=Create role")
            await phone.wait_for_selector("#role-table >> text=Phone role")

            # The history chart: one per numeric key, its points drawn, fitting at both widths.
            for view, tab in (("laptop", page), ("phone", phone)):
                await tab.goto(base + f"/ui/devices/{device.id}")
                chart = tab.locator("#telemetry-history .history[data-key=temperature] figure.chart")
                await chart.wait_for()
                assert await chart.locator("path.point").count() == 41
                assert await tab.locator("#telemetry-history .history[data-key=mode]").count() == 0
                ticks = await chart.locator(".chart-x .tick").evaluate_all(
                    "els => els.filter(e => e.offsetParent).map(e => e.getBoundingClientRect())")
                assert ticks and all(a["right"] <= b["left"] for a, b in zip(ticks, ticks[1:], strict=False)), view
                size = await chart.locator(".chart-x .tick >> nth=0").evaluate(
                    "e => parseFloat(getComputedStyle(e).fontSize)")
                assert size >= 11, (view, size)  # readable: page-sized text, not a shrunken drawing
                assert await tab.evaluate(OUTSIDE_ITS_CARD) == [], view
                await tab.screenshot(path=str(ARTIFACTS / f"device-history-{view}.png"), full_page=True)

            # The access token is not in the page until Reveal is pressed.
            assert token not in await page.content()
            await page.click("[data-reveal=creds-value]")
            await page.wait_for_selector("#creds-value[data-shown='1']")
            assert await page.inner_text("#creds-value") == token

            for path in ("/ui/overview", "/ui/profiles", "/ui/devices", "/ui/customers", "/ui/audit"):
                await phone.goto(base + path)
                await phone.wait_for_load_state("load")
            await phone.goto(base + "/ui/overview")
            assert await phone.locator("figure.chart .chart-x .tick").count() > 0
            await phone.screenshot(path=str(ARTIFACTS / "overview-chart-phone.png"), full_page=True)
        finally:
            await browser.close()
    assert errors == []
