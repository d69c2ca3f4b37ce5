"""Who is calling: ``X-Authorization: Bearer <jwt>`` (the reference's header), or the
standard ``Authorization: Bearer`` header, resolved to a Principal once per request."""

from __future__ import annotations

from aiohttp import web

from gridlinks.core.auth import Principal
from gridlinks.core.errors import Forbidden, Unauthorized

PERMISSION_DENIED = "You don't have permission to perform this operation!"


def bearer_token(request: web.Request) -> str | None:
    for header in ("X-Authorization", "Authorization"):
        value = request.headers.get(header, "")
        if value.lower().startswith("bearer "):
            return value[7:].strip()
    return None


async def principal(request: web.Request, hub, *authorities: str) -> Principal:
    token = bearer_token(request)
    if not token:
        raise Unauthorized("Authentication failed")
    who = await hub.auth.principal(token)
    if authorities and who.authority not in authorities:
        raise Forbidden(PERMISSION_DENIED)
    return who
