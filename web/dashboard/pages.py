"""What a dashboard page is, so plugins can add their own next to the built-in ones
(hook ``register_dashboard_pages``): a route, a handler, an optional menu entry and the
audience allowed to open it. The dashboard's middleware enforces the audience before a
handler runs, so a handler never has to remember to check who is calling."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

# Who may open a page. Tenant pages need a tenant admin; customer pages a customer user.
TENANT = "tenant"
CUSTOMER = "customer"
ANYONE = "anyone"          # any signed-in user
PUBLIC = "public"          # no session needed (the login page)
AUDIENCES = (TENANT, CUSTOMER, ANYONE, PUBLIC)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Page:
    """One route of the dashboard. ``path`` is relative to the dashboard root (``/ui``);
    ``menu`` is the menu title (None: not in the menu); ``order`` sorts the menu;
    ``template_dir`` lets a plugin ship its own templates."""

    path: str
    handler: Handler
    name: str
    methods: tuple[str, ...] = ("GET",)
    audience: str = TENANT
    menu: str | None = None
    order: int = 100
    icon: str = ""
    template_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.audience not in AUDIENCES:
            raise ValueError(f"page {self.name}: audience must be one of {', '.join(AUDIENCES)}")
        if not self.path.startswith("/"):
            raise ValueError(f"page {self.name}: path must start with /")


@dataclass(frozen=True)
class MenuEntry:
    title: str
    name: str
    audience: str
    order: int
    icon: str


class PageRegistry:
    """The pages in registration order; route names must be unique (a clash is a plugin bug)."""

    def __init__(self) -> None:
        self.pages: list[Page] = []
        self._names: set[str] = set()

    def register(self, page: Page) -> None:
        if not isinstance(page, Page):
            raise TypeError("register_dashboard_pages expects gridlinks.web.dashboard.pages.Page objects")
        if page.name in self._names:
            raise ValueError(f"two dashboard pages are named {page.name!r}")
        self._names.add(page.name)
        self.pages.append(page)

    def audience_of(self, name: str) -> str | None:
        for page in self.pages:
            if page.name == name:
                return page.audience
        return None

    def menu(self) -> list[MenuEntry]:
        entries = [MenuEntry(p.menu, p.name, p.audience, p.order, p.icon) for p in self.pages if p.menu]
        return sorted(entries, key=lambda e: e.order)

    def template_dirs(self) -> list[Path]:
        return [p.template_dir for p in self.pages if p.template_dir is not None]
