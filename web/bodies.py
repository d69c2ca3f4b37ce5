"""Reading request bodies and query strings: the one door every HTTP handler's input
comes through.

A body is refused with 413 before it is read when its Content-Length says it is too
large, and as soon as it grows past the limit when it is chunked; JSON goes through
:func:`gridlinks.core.services.device_payloads.decode_json` (bounded depth, no NaN, no lone surrogates);
the decoded value is checked against a pydantic model from :mod:`gridlinks.web.schemas`.
Whatever is wrong becomes a BadRequest, which the HTTP transport answers as
``{"status": 400, "message": "...", "errorCode": 31}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from gridlinks.core.errors import BadRequest, PayloadTooLarge
from gridlinks.core.services.device_payloads import decode_json


@dataclass(frozen=True)
class BodyLimits:
    """Set on the application by the HTTP transport from its ``http:`` settings."""

    # Requests from callers nobody has authenticated yet (login, token refresh, provisioning).
    unauthenticated: int = 64 * 1024
    # JSON bodies of the admin/REST API.
    json: int = 1024 * 1024
    # The one large JSON body: bulk import (a whole CSV file inside a JSON string).
    bulk: int = 64 * 1024 * 1024


BODY_LIMITS = web.AppKey("body_limits", BodyLimits)
M = TypeVar("M", bound=BaseModel)


def limits(request: web.Request) -> BodyLimits:
    """The limits set on the application (or a parent of it, for the dashboard's sub-app)."""
    return request.config_dict.get(BODY_LIMITS) or BodyLimits()


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, or 413 as soon as it is known to be over ``limit`` bytes: at once
    from Content-Length (nothing is read), else while reading a chunked body."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"payload is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.readany()
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"payload is larger than {limit} bytes")
        chunks.append(chunk)


async def read_json(request: web.Request, limit: int | None = None, what: str = "request body",
                    empty: Any = None) -> Any:
    """The decoded JSON body; ``empty`` for a blank body (``None``: a blank body is an error)."""
    raw = await read_body(request, limits(request).json if limit is None else limit)
    if not raw.strip():
        if empty is None:
            raise BadRequest(f"{what} is required")
        return empty
    return decode_json(raw, what)


def validation_message(exc: ValidationError) -> str:
    """``"name: String should have at most 255 characters"``: where, then what, for the
    first few problems; never the offending value (it may be huge or a secret)."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:3]:
        where = ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts) or "invalid request"


def validate(model: type[M], value: Any) -> M:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise BadRequest(validation_message(exc)) from None


async def parse_body(request: web.Request, model: type[M], limit: int | None = None, empty: Any = None) -> M:
    """Read, decode and validate a JSON body in one call."""
    return validate(model, await read_json(request, limit, empty=empty))


def parse_query(request: web.Request | Mapping[str, str], model: type[M]) -> M:
    """Query parameters checked against ``model`` (a repeated parameter: its first value)."""
    query = request.query if isinstance(request, web.Request) else request
    return validate(model, {k: query[k] for k in query.keys()})
