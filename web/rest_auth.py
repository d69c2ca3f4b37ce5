"""Who is calling: ``X-Authorization: Bearer <jwt>`` (the reference's header), or the
standard ``Authorization: Bearer`` header, resolved to a Principal once per request."""

from __future__ import annotations

from aiohttp import web

from gridlinks.core.errors import Forbidden, Unauthorized
from gridlinks.core.services.auth import Principal

PERMISSION_DENIED = "You don't have permission to perform this operation!"


# A JWT the hub issued is ~300 ASCII characters; anything else cannot be one of them.
MAX_TOKEN_LENGTH = 8192


def bearer_token(request: web.Request) -> str | None:
    for header in ("X-Authorization", "Authorization"):
        value = request.headers.get(header, "")
        if value.lower().startswith("bearer "):
            return value[7:].strip()
    return None


def plausible_token(token: str | None) -> bool:
    """Worth handing to the JWT decoder: ASCII (a JWT is base64url; PyJWT fails on
    other characters with an error that is not its own) and of a sane length."""
    return bool(token) and token.isascii() and len(token) <= MAX_TOKEN_LENGTH


async def principal(request: web.Request, hub, *authorities: str) -> Principal:
    token = bearer_token(request)
    if not plausible_token(token):
        raise Unauthorized("Authentication failed")
    who = await hub.auth.principal(token)
    if authorities and who.authority not in authorities:
        raise Forbidden(PERMISSION_DENIED)
    return who
