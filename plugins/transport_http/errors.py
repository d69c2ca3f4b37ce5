"""The one place hub errors become HTTP responses: a status code and the reference's
JSON error body ``{"status", "message", "errorCode"}``. Nothing reaches a client as a
bare 500 page or a stack trace."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from gridlinks.core.errors import (BadRequest, Conflict, Forbidden, HubError, NotFound, PayloadTooLarge,
                                   TokenExpired, TooManyAttempts, Unauthorized)

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
]
_DEFAULT_CODES = {400: 31, 401: 10, 403: 20, 404: 32, 413: 31, 429: 33}


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
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "Internal server error", 2)
