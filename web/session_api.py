"""Ending sign-in sessions over REST.

- ``POST /api/auth/logout``: the caller's session ends (its access token and its refresh
  token); ``?everywhere=true`` ends every session of the caller.
- ``POST /api/user/{userId}/sessions/revoke``: a tenant admin ends every session of a
  user of their tenant (a stolen laptop, a leaver). Answers ``{"revokedSessions": n}``.

Kept out of the admin API module because it is about people's sessions, not devices; the
admin API registers these routes next to login and token refresh, so a hub that can sign
people in can always sign them out.
"""

from __future__ import annotations

from aiohttp import web
from tortoise.expressions import Q

from gridlinks.core.errors import BadRequest, NotFound
from gridlinks.core.services.customers import NOT_FOUND, entity_id
from gridlinks.core.storage.models import Authority, User
from gridlinks.web.openapi import USER, api_doc
from gridlinks.web.openapi_schemas import RevokedSessions
from gridlinks.web.rest_auth import bearer_token, principal
from gridlinks.web.schemas import LogoutQuery

ADMINS = (Authority.TENANT_ADMIN, Authority.SYS_ADMIN)
_TRUE, _FALSE = ("true", "1", "yes"), ("", "false", "0", "no")


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise BadRequest(f"{name} must be true or false")


class SessionApi:
    def __init__(self, hub):
        self.hub = hub

    @api_doc("Sign out (this session, or every session with everywhere=true)", tag="auth", auth=USER,
             query=LogoutQuery)
    async def logout(self, request: web.Request) -> web.Response:
        who = await principal(request, self.hub)  # a revoked or expired token gets 401 here
        if _flag(request, "everywhere"):
            user = await User.get(id=who.user_id)
            await self.hub.auth.revoke_sessions(user)
        else:
            await self.hub.auth.sign_out(bearer_token(request) or "")
        return web.Response(status=200)

    @api_doc("End every session of a user", tag="auth", response=RevokedSessions)
    async def revoke_user_sessions(self, request: web.Request) -> web.Response:
        who = await principal(request, self.hub, *ADMINS)
        user_id = entity_id(request.match_info["userId"])
        query = User.filter(id=user_id)
        if who.authority != Authority.SYS_ADMIN:
            # A customer user may hang off the tenant only through their customer.
            query = query.filter(Q(tenant_id=who.tenant_id) | Q(customer__tenant_id=who.tenant_id))
        user = await query.first()
        if user is None:
            raise NotFound(NOT_FOUND)
        ended = await self.hub.auth.revoke_sessions(user, actor=who.email)
        return web.json_response({"userId": {"entityType": "USER", "id": str(user.id)}, "revokedSessions": ended})


def add_routes(hub, app: web.Application) -> None:
    api = SessionApi(hub)
    app.router.add_post("/api/auth/logout", api.logout)
    app.router.add_post("/api/user/{userId}/sessions/revoke", api.revoke_user_sessions)
