"""The dashboard's aiohttp sub-application, mounted at ``/ui`` on the hub's HTTP port.

Its middleware is the single gate for every page: it resolves the session cookie to a
Principal, enforces the page's audience, checks the CSRF token on every state-changing
request, and turns hub errors and HTTP errors into a friendly HTML page (the parent
application's middleware would answer JSON, which is right for the REST API only).
"""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from gridlinks.core.errors import BadRequest, Conflict, Forbidden, HubError, NotFound, TooManyAttempts, Unauthorized
from gridlinks.web.bodies import limits
from gridlinks.web.dashboard.masking import shown
from gridlinks.web.dashboard.pages import PUBLIC, PageRegistry
from gridlinks.web.dashboard.render import pretty_json, render, ts_text, url
from gridlinks.web.dashboard.session import CSRF_FIELD, CSRF_HEADER, csrf_for, csrf_ok, session_token
from gridlinks.web.dashboard.state import STATE, WHO, DashboardState, audience_allows
from gridlinks.web.rest_auth import plausible_token

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent
TEMPLATES = WEB_DIR / "templates"
STATIC = WEB_DIR / "static"
PREFIX = "/ui"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

_STATUS = [(NotFound, 404, "Not found"), (Forbidden, 403, "Not allowed"), (Unauthorized, 401, "Sign-in needed"),
           (TooManyAttempts, 429, "Too many attempts"), (Conflict, 409, "Conflict"),
           (BadRequest, 400, "Bad request")]


def error_page(request: web.Request, status: int, title: str, message: str) -> web.Response:
    return render(request, "error.html", status=status, status_code=status, title=title, message=message)


MAX_NEXT_LENGTH = 2048  # a longer "come back here" would make a Location header clients refuse


def _login_redirect(request: web.Request) -> web.HTTPSeeOther:
    target = request.path_qs if request.method == "GET" else ""
    if len(target) > MAX_NEXT_LENGTH:
        target = request.path if len(request.path) <= MAX_NEXT_LENGTH else ""
    return web.HTTPSeeOther(url(request, "login", query={"next": target}))


async def _identify(request: web.Request, st: DashboardState):
    token = session_token(request)
    if not plausible_token(token):
        return None
    try:
        return await st.hub.auth.principal(token)
    except Unauthorized:
        return None


async def _check_csrf(request: web.Request, st: DashboardState) -> None:
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        given = (await request.post()).get(CSRF_FIELD)
    token = session_token(request)
    expected = csrf_for(token) if token and request.get(WHO) else request.cookies.get("gl_login_csrf")
    if not csrf_ok(expected, given if isinstance(given, str) else None):
        raise Forbidden("This form has expired or did not come from this dashboard (missing or wrong CSRF "
                        "token). Reload the page and try again.")


@web.middleware
async def gate(request: web.Request, handler):
    st: DashboardState = request.app[STATE]
    name = getattr(request.match_info.route, "name", None)
    audience = st.pages.audience_of(name) if name else None
    if audience is None:
        audience = PUBLIC  # static files and unknown paths (a 404 page)
    try:
        who = await _identify(request, st)
        request[WHO] = who
        if audience != PUBLIC and who is None:
            raise _login_redirect(request)
        if not audience_allows(audience, who):
            raise Forbidden("Your account cannot open this page.")
        if request.method not in SAFE_METHODS:
            if who is None:
                _refuse_large_anonymous_body(request)
            await _check_csrf(request, st)
        if name == "static":
            return await _static_file(request, handler)
        return await handler(request)
    except HubError as exc:
        for cls, status, title in _STATUS:
            if isinstance(exc, cls):
                return error_page(request, status, title, str(exc))
        return error_page(request, 400, "Bad request", str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_page(request, exc.status, exc.reason, _http_message(exc.status))
    except Exception as exc:
        # One line, no traceback (issue 11): the route and what went wrong.
        resource = request.match_info.route.resource
        log.error("dashboard page %s %s failed: %s", request.method,
                  resource.canonical if resource is not None else request.path, type(exc).__name__)
        return error_page(request, 500, "Something went wrong",
                          "The hub could not show this page. The error has been logged.")


def _refuse_large_anonymous_body(request: web.Request) -> None:
    """Nobody is signed in (the sign-in form): a body over the small unauthenticated limit
    is refused before it is read (http.max_unauthenticated_body_bytes)."""
    limit = limits(request).unauthenticated
    size = request.content_length
    if (size is not None and size > limit) or (size is None and request.body_exists):  # or chunked
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size or 0)


async def _static_file(request: web.Request, handler) -> web.StreamResponse:
    """A file name the filesystem refuses (over 255 bytes: ENAMETOOLONG) names no file: 404."""
    try:
        return await handler(request)
    except OSError:
        raise web.HTTPNotFound() from None


def _http_message(status: int) -> str:
    return {404: "There is no page at this address.",
            405: "This page cannot be used that way.",
            413: "What you sent is too large."}.get(status, "The request could not be handled.")


def build_app(hub, settings, pages: PageRegistry, client_max_size: int) -> web.Application:
    app = web.Application(middlewares=[gate], client_max_size=client_max_size)
    st = DashboardState(hub, settings, pages)
    app[STATE] = st
    loaders = [jinja2.FileSystemLoader(str(d)) for d in [*pages.template_dirs(), TEMPLATES]]
    env = aiohttp_jinja2.setup(app, loader=jinja2.ChoiceLoader(loaders), autoescape=True,
                               undefined=jinja2.StrictUndefined)
    env.filters["ts"] = ts_text
    env.filters["pretty_json"] = pretty_json
    env.filters["shown"] = shown
    env.globals["static"] = lambda path: f"{PREFIX}/static/{path}"

    def url_global(name: str, query_: dict | None = None, **parts) -> str:
        target = app.router[name].url_for(**{k: str(v) for k, v in parts.items()})
        clean = {k: str(v) for k, v in (query_ or {}).items() if v not in (None, "")}
        return str(target.with_query(clean) if clean else target)

    env.globals["url"] = url_global
    for page in pages.pages:
        resource = app.router.add_resource(page.path, name=page.name)
        for method in page.methods:
            resource.add_route(method, page.handler)
    app.router.add_static("/static", STATIC, name="static")

    async def on_shutdown(_app: web.Application) -> None:
        st.stopping.set()  # live feeds end, so the server can close without waiting for them

    app.on_shutdown.append(on_shutdown)
    return app
