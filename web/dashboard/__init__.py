"""The web dashboard plugin (entry point ``dashboard``): Jinja2 pages for tenant admins
and customer users, served under ``/ui`` on the hub's HTTP port.

Pages come from the ``register_dashboard_pages`` hook; the built-in ones are registered
through it exactly like a third-party plugin's (:mod:`gridlinks.web.dashboard.builtin`).
"""

from __future__ import annotations

from aiohttp import web

from gridlinks.core import hookimpl
from gridlinks.web.dashboard.app import PREFIX, STATIC, build_app
from gridlinks.web.dashboard.builtin import builtin_pages
from gridlinks.web.dashboard.pages import PageRegistry
from gridlinks.web.dashboard.settings import DashboardSettings

SECTION = "dashboard"
FAVICON = STATIC / "favicon.svg"


@hookimpl
def register_transports(hub, register):
    # Not a transport: this is the start-up hook that runs before unknown config
    # sections are rejected, so a bad ``dashboard:`` key fails start-up here.
    hub.config.section(SECTION, DashboardSettings)


@hookimpl
def register_dashboard_pages(hub, register):
    for page in builtin_pages(hub):
        register(page)


@hookimpl
def register_web_routes(hub, app):
    settings = hub.config.section(SECTION, DashboardSettings)
    pages = PageRegistry()
    hub.pm.hook.register_dashboard_pages(hub=hub, register=pages.register)
    app.add_subapp(PREFIX, build_app(hub, settings, pages, settings.max_upload_bytes))

    async def home(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{PREFIX}/")

    app.router.add_get("/", home)

    async def favicon(request: web.Request) -> web.Response:
        # Browsers ask for /favicon.ico on pages that name no icon (the API's own pages).
        return web.Response(body=FAVICON.read_bytes(), content_type="image/svg+xml",
                            headers={"Cache-Control": "public, max-age=86400"})

    app.router.add_get("/favicon.ico", favicon)
