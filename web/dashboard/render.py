"""Rendering helpers every page shares: the template context (who is signed in, the
menu they may see, the CSRF token, a one-shot flash message), redirects that carry a
flash message (post/redirect/get), and reading a form."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote, unquote, urlencode

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy

from gridlinks.web.dashboard.state import STATE, WHO, DashboardState

FLASH_COOKIE = "gl_flash"


def state(request: web.Request) -> DashboardState:
    return request.app[STATE]


def url(request: web.Request, name: str, query: dict[str, Any] | None = None, **parts: Any) -> str:
    u = request.app.router[name].url_for(**{k: str(v) for k, v in parts.items()})
    if query:
        clean = {k: v for k, v in query.items() if v not in (None, "")}
        return f"{u}?{urlencode(clean)}" if clean else str(u)
    return str(u)


def _flash(request: web.Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    level, _, text = unquote(raw).partition(":")
    return {"level": level if level in ("ok", "error") else "ok", "text": text[:500]}


def _is_navigation(request: web.Request) -> bool:
    """A page the browser shows, not a live fragment a page fetches in the background
    (``Sec-Fetch-Mode: cors/same-origin``; browsers without the header count as pages)."""
    return request.headers.get("Sec-Fetch-Mode", "navigate") == "navigate"


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    st = state(request)
    who = request.get(WHO)
    # Only a shown page takes (and clears) the message: a live table's background refresh
    # racing the redirect after an action would otherwise swallow "Device X approved.".
    flash = _flash(request) if _is_navigation(request) else None
    base = {"who": who, "hub_title": st.settings.title, "menu": st.menu_for(who), "flash": flash,
            "csrf": st.csrf(request), "path": request.path, "page_name": _route_name(request)}
    response = aiohttp_jinja2.render_template(template, request, {**base, **context}, status=status)
    if flash:
        response.del_cookie(FLASH_COOKIE, path="/ui")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _route_name(request: web.Request) -> str | None:
    route = request.match_info.route
    return getattr(route, "name", None)


def redirect(location: str, flash: str | None = None, level: str = "ok") -> web.HTTPSeeOther:
    """A 303 to ``location`` (raise it), with a message for the next page."""
    exc = web.HTTPSeeOther(location)
    if flash:
        exc.set_cookie(FLASH_COOKIE, quote(f"{level}:{flash}"), path="/ui", httponly=True, samesite="Lax",
                       max_age=60)
    return exc


async def form(request: web.Request) -> MultiDictProxy:
    return await request.post()


def field(data: MultiDictProxy, name: str, default: str = "") -> str:
    value = data.get(name, default)
    return value.strip() if isinstance(value, str) else default


def checkbox(data: MultiDictProxy, name: str) -> bool:
    return data.get(name) in ("on", "true", "1", "yes")


def ts_text(ms: int | None) -> str:
    if not ms:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000)) + " UTC"


def pretty_json(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
