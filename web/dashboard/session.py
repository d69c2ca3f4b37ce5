"""Browser sessions on top of :mod:`gridlinks.core.services.auth`: the session cookie is the
hub's own access JWT (HttpOnly, SameSite=Lax, path /ui), so a disabled user loses the
dashboard at once, exactly as they lose the REST API. The JWT names a server-side
session: sign-out deletes it, so a copied or replayed cookie is refused afterwards
(deleting the cookie alone would only forget it in this browser).

CSRF: every form carries ``csrf_token`` = HMAC(session token, purpose). A page on
another site can make the browser send the cookie, but it cannot read it, so it cannot
compute the token. Before login there is no session, so the login form uses a random
double-submit cookie instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from aiohttp import web

from gridlinks.core.services.tokens import secrets_equal

SESSION_COOKIE = "gl_session"
LOGIN_CSRF_COOKIE = "gl_login_csrf"
COOKIE_PATH = "/ui"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def csrf_for(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"gridlinks-dashboard-csrf", hashlib.sha256).hexdigest()


def session_token(request: web.Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def _cookie(response: web.StreamResponse, request: web.Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path=COOKIE_PATH, httponly=True, samesite="Lax",
                        secure=request.secure)


def start_session(response: web.StreamResponse, request: web.Request, token: str, ttl_s: int) -> None:
    _cookie(response, request, SESSION_COOKIE, token, ttl_s)
    response.del_cookie(LOGIN_CSRF_COOKIE, path=COOKIE_PATH)


def end_session(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path=COOKIE_PATH)


def login_csrf(request: web.Request) -> str:
    """The login form's token: the one already in the cookie, or a new one."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)


def remember_login_csrf(response: web.StreamResponse, request: web.Request, token: str) -> None:
    _cookie(response, request, LOGIN_CSRF_COOKIE, token, 3600)


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected) and secrets_equal(given or "", expected)
