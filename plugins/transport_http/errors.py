"""The one place hub errors become HTTP responses: a status code and the reference's
JSON error body ``{"status", "message", "errorCode"}``. Nothing reaches a client as a
bare 500 page or a stack trace."""

from __future__ import annotations

import json
import logging
import sqlite3

from aiohttp import web
from tortoise.exceptions import DBConnectionError, IntegrityError, OperationalError

from gridlinks.core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    HubError,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TokenExpired,
    TooManyAttempts,
    Unauthorized,
)

log = logging.getLogger(__name__)

# (status, reference errorCode) per error class, most specific first.
_MAPPING: list[tuple[type[HubError], int, int]] = [
    (PayloadTooLarge, 413, 31),
    (BadRequest, 400, 31),
    (TokenExpired, 401, 11),
    (Unauthorized, 401, 10),
    (Forbidden, 403, 20),
    (NotFound, 404, 32),
    (Conflict, 400, 31),
    (TooManyAttempts, 429, 33),
    (ServiceUnavailable, 503, 2),
]
_DEFAULT_CODES = {400: 31, 401: 10, 403: 20, 404: 32, 413: 31, 429: 33}
# The database refusing work (disk full, locked, I/O error, connection lost): the hub is
# not able to serve right now, which is 503, not a bug (500).
_DATABASE_DOWN = (sqlite3.DatabaseError, OperationalError, DBConnectionError)


def error_response(status: int, message: str, error_code: int | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    body = {"status": status, "message": message, "errorCode": error_code or _DEFAULT_CODES.get(status, 2)}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json", headers=headers)


def hub_error_response(exc: HubError) -> web.Response:
    for cls, status, code in _MAPPING:
        if isinstance(exc, cls):
            headers = None
            if isinstance(exc, TooManyAttempts) and exc.retry_after_s:
                headers = {"Retry-After": str(int(exc.retry_after_s) + 1)}
            return error_response(status, str(exc), code, headers)
    return error_response(400, str(exc), 31)


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except HubError as exc:
        return hub_error_response(exc)
    except web.HTTPException as exc:
        if not 400 <= exc.status < 500 or exc.content_type == "application/json":
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() not in ("content-type", "content-length")}
        return error_response(exc.status, exc.reason, headers=headers or None)
    except (IntegrityError, sqlite3.IntegrityError):
        # A row the request relied on changed under it (a device deleted while its
        # telemetry was in flight): the caller's view is stale, not the hub broken.
        log.debug("integrity error on %s %s", request.method, route_label(request))
        return error_response(400, "The request conflicts with data changed meanwhile; try again", 31)
    except _DATABASE_DOWN as exc:
        log.error("database unavailable on %s %s: %s", request.method, route_label(request), type(exc).__name__)
        return error_response(503, "The database cannot be used right now; try again", 2)
    except ConnectionError:
        # The client went away (or was closed by a read timeout) mid-request: nobody to
        # answer, nothing to log beyond a debug line.
        log.debug("client gone during %s %s", request.method, route_label(request))
        return web.Response(status=400)
    except Exception as exc:
        # The last resort: a bug, not bad input (that is a HubError). One line naming the
        # route and the exception type; the client gets no traceback and no detail.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, route_label(request))
        return error_response(500, "Internal error", 2)


def route_label(request: web.Request) -> str:
    """The route's pattern (``/api/v1/{token}/telemetry``), never the concrete path: a
    path may hold a device's access token."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(no route)"
