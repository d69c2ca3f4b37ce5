"""Driving the dashboard from tests: a cookie-keeping HTTP client that signs in through
the login form (as a browser does) and posts forms with the page's CSRF token, and the
launcher for Debian's chromium used by the browser tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no form with a CSRF token"
    return match.group(1)


class DashboardClient:
    def __init__(self, base_url: str):
        self.base_url = base_url
        # unsafe=True: keep cookies set by an IP-address host (127.0.0.1)
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def close(self) -> None:
        await self.session.close()

    async def get(self, path: str, **kw) -> tuple[int, str, aiohttp.ClientResponse]:
        async with self.session.get(self.base_url + path, allow_redirects=kw.pop("allow_redirects", False), **kw) as r:
            return r.status, await r.text(), r

    async def post(self, path: str, data: dict[str, Any] | aiohttp.FormData | None = None, csrf: bool = True,
                   **kw) -> tuple[int, str, aiohttp.ClientResponse]:
        if isinstance(data, aiohttp.FormData):
            form = data
            if csrf:
                form.add_field("csrf_token", self.csrf)
        else:
            form = dict(data or {})
            if csrf:
                form.setdefault("csrf_token", self.csrf)
        async with self.session.post(self.base_url + path, data=form, allow_redirects=False, **kw) as r:
            return r.status, await r.text(), r

    async def login(self, email: str, password: str) -> int:
        status, html, _ = await self.get("/ui/login")
        assert status == 200, html
        status, body, response = await self.post("/ui/login", {"email": email, "password": password,
                                                               "csrf_token": csrf_from(html)}, csrf=False)
        if status == 303:
            status, html, _ = await self.get(response.headers["Location"])
            self.csrf = csrf_from(html)
        return status


async def launch_chromium(playwright):
    return await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
