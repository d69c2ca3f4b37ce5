"""Sign-in and sign-out. Passwords are checked by :meth:`AuthService.login` (argon2,
off the event loop, an unknown e-mail as slow as a wrong password); each sign-in is a
server-side session that sign-out deletes."""

from __future__ import annotations

from aiohttp import web

from gridlinks.core.errors import Unauthorized
from gridlinks.core.storage.models import User
from gridlinks.web.dashboard.render import field, form, redirect, render, state, url
from gridlinks.web.dashboard.session import end_session, login_csrf, remember_login_csrf, session_token, start_session
from gridlinks.web.dashboard.state import WHO


def _safe_next(value: str) -> str | None:
    """Only paths inside the dashboard: ``next`` must not send a user to another site."""
    if value.startswith("/ui/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


def _login_page(request: web.Request, status: int = 200, error: str | None = None, email: str = "") -> web.Response:
    token = login_csrf(request)
    response = render(request, "login.html", status=status, error=error, email=email,
                      next=_safe_next(request.query.get("next", "")) or "", login_csrf=token)
    remember_login_csrf(response, request, token)
    return response


async def login_page(request: web.Request) -> web.Response:
    who = request.get(WHO)
    if who is not None:
        raise web.HTTPSeeOther(url(request, state(request).home_for(who)))
    return _login_page(request)


async def login_submit(request: web.Request) -> web.Response:
    data = await form(request)
    email = field(data, "email")
    st = state(request)
    try:
        tokens = await st.hub.auth.login(email, str(data.get("password") or ""))
    except Unauthorized:
        return _login_page(request, 401, "Invalid username or password", email)
    who = await st.hub.auth.principal(tokens["token"])
    target = _safe_next(field(data, "next")) or url(request, st.home_for(who))
    response = web.HTTPSeeOther(target)
    start_session(response, request, tokens["token"], st.hub.settings.auth.token_ttl_s)
    raise response


async def logout(request: web.Request) -> web.Response:
    """Sign-out ends the session on the server, not only in this browser: the cookie's
    token (and the refresh token of the same sign-in) stop working even if copied.
    With ``everywhere`` set, every session of the user ends (REST clients too)."""
    data = await form(request)
    st = state(request)
    who = request.get(WHO)
    if field(data, "everywhere") and who is not None:
        user = await User.get_or_none(id=who.user_id)
        if user is not None:
            await st.hub.auth.revoke_sessions(user)
        message = "You are signed out everywhere."
    else:
        await st.hub.auth.sign_out(session_token(request) or "")
        message = "You are signed out."
    response = redirect(url(request, "login"), message)
    end_session(response)
    raise response
