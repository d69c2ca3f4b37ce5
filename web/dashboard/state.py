"""Everything the dashboard keeps while it runs, hung on its aiohttp application (never
module-global, so two hubs in one process do not share it): settings, pages, running
bulk imports, and the signal that ends live feeds when the hub stops."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gridlinks.core.services.auth import Principal
from gridlinks.core.storage.models import Authority
from gridlinks.web.dashboard.pages import ANYONE, CUSTOMER, PUBLIC, TENANT, MenuEntry, PageRegistry
from gridlinks.web.dashboard.session import csrf_for, login_csrf, session_token
from gridlinks.web.dashboard.settings import DashboardSettings

if TYPE_CHECKING:
    from gridlinks.core.hub import Hub

STATE = web.AppKey("dashboard_state", object)
# Typed request keys arrived in aiohttp 3.12; older releases take a plain string.
WHO = web.RequestKey("dashboard_who", object) if hasattr(web, "RequestKey") else "gridlinks_dashboard_who"


def audience_allows(audience: str, who: Principal | None) -> bool:
    if audience == PUBLIC:
        return True
    if who is None:
        return False
    if audience == ANYONE:
        return True
    if audience == TENANT:
        return who.authority == Authority.TENANT_ADMIN and who.tenant_id is not None
    if audience == CUSTOMER:
        return who.authority == Authority.CUSTOMER_USER and who.customer_id is not None
    return False


class DashboardState:
    def __init__(self, hub: Hub, settings: DashboardSettings, pages: PageRegistry):
        self.hub = hub
        self.settings = settings
        self.pages = pages
        self.imports: dict[str, Any] = {}
        self.stopping = asyncio.Event()

    def menu_for(self, who: Principal | None) -> list[MenuEntry]:
        return [e for e in self.pages.menu() if e.audience != PUBLIC and audience_allows(e.audience, who)]

    @staticmethod
    def csrf(request: web.Request) -> str:
        token = session_token(request)
        return csrf_for(token) if token and request.get(WHO) else login_csrf(request)

    def home_for(self, who: Principal | None) -> str:
        """Where a user lands after login: tenant admins on the overview, customers on their devices."""
        if audience_allows(TENANT, who):
            return "overview"
        if audience_allows(CUSTOMER, who):
            return "my_devices"
        return "login"
