"""The /api/docs page in a real browser (Debian's chromium driven by Playwright): Swagger UI
renders the hub's OpenAPI 3.1 document with every file from the hub, and a call tried
from the page reaches the hub. Screenshot: tests/artifacts/api-docs.png."""

from __future__ import annotations

import pytest

from tests.browser.support import ARTIFACTS, CHROMIUM, launch_chromium

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: run `make test` to install it")


async def test_swagger_ui_renders_the_document_from_the_hub_alone(running):
    async with playwright_api.async_playwright() as pw:
        browser = await launch_chromium(pw)
        try:
            page = await browser.new_page(viewport={"width": 1366, "height": 900})
            page.set_default_timeout(20000)
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(running.base_url + "/api/docs")
            await page.wait_for_selector(".opblock-summary-path")
            assert await page.locator(".opblock").count() > 40
            assert await page.locator("text=Unable to render this definition").count() == 0
            assert await page.locator(".version-stamp, .version").first.is_visible()
            # Try it out: GET /api/health from the page itself.
            health = page.locator("#operations-health-health")
            await health.locator(".opblock-summary").click()
            await health.locator("button.try-out__btn").click()
            await health.locator("button.execute").click()
            await health.locator(".live-responses-table tbody .response-col_status").first.wait_for()
            assert "200" in await health.locator(".live-responses-table tbody .response-col_status").first.inner_text()
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "api-docs.png"))
            assert errors == []
            assert all(url.startswith(running.base_url) for url in requested), requested
        finally:
            await browser.close()
