"""The one place errors become CoAP response codes: hub errors (core/errors.py), the
CoAP-level refusals (4.02, 4.06, 4.15) and anything unexpected (5.00).

The payload of an error response is the hub's message as a CoAP diagnostic payload
(RFC 7252 5.5.2: UTF-8 text for people, not parsed by devices); hub error messages
never contain secrets. Too-many-attempts carries Max-Age, CoAP's Retry-After.

An unexpected exception is a bug, not the caller's fault: it is answered 5.00 with no
detail and logged as one ERROR line (type, message and where it was raised), never a
traceback, so a flood of one bad input cannot fill the log. The fuzz tests and
bench/fuzz_coap.py check that no input reaches it.
"""

from __future__ import annotations

import logging
import traceback

from aiocoap import Code, Message

from gridlinks.core.errors import (
    BadRequest,
    ConfigError,
    Conflict,
    Forbidden,
    HubError,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    StartupError,
    TooManyAttempts,
    Unauthorized,
)

# Most specific first: PayloadTooLarge is a BadRequest.
_MAPPING: list[tuple[type[HubError], Code]] = [
    (PayloadTooLarge, Code.REQUEST_ENTITY_TOO_LARGE),
    (BadRequest, Code.BAD_REQUEST),
    (Unauthorized, Code.UNAUTHORIZED),
    (Forbidden, Code.FORBIDDEN),
    (NotFound, Code.NOT_FOUND),
    # The HTTP transport answers 400 here too; the reference has no 4.09.
    (Conflict, Code.BAD_REQUEST),
    (TooManyAttempts, Code.TOO_MANY_REQUESTS),
    # The hub's own state, never the caller's input: a store that cannot be reached now,
    # a configuration or start-up problem met while answering.
    (ServiceUnavailable, Code.SERVICE_UNAVAILABLE),
    (ConfigError, Code.INTERNAL_SERVER_ERROR),
    (StartupError, Code.INTERNAL_SERVER_ERROR),
]


def code_for(exc: HubError) -> Code:
    for cls, code in _MAPPING:
        if isinstance(exc, cls):
            return code
    return Code.BAD_REQUEST


log = logging.getLogger(__name__)


def hub_error_response(exc: HubError) -> Message:
    response = Message(code=code_for(exc), payload=str(exc).encode("utf-8"))
    if isinstance(exc, TooManyAttempts) and exc.retry_after_s:
        response.opt.max_age = int(exc.retry_after_s) + 1
    return response


def too_large_response(limit: int) -> Message:
    """4.13 with Size1, which tells a block-wise client the largest body we take (RFC 7959 2.9.3)."""
    response = hub_error_response(PayloadTooLarge(f"payload is larger than {limit} bytes"))
    response.opt.size1 = limit
    return response


def refusal(code: Code, reason: str) -> Message:
    """A CoAP-level 4.xx (bad option, not acceptable, unsupported content format)."""
    return Message(code=code, payload=reason.encode("utf-8"))


def unexpected_error_response(exc: BaseException, request) -> Message:
    """5.00 for a bug, logged once without a traceback (see the module docstring)."""
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    log.error("CoAP %s %s failed: %s: %s%s", request.code, "/" + "/".join(request.opt.uri_path[:2]),
              type(exc).__name__, str(exc)[:200], f" at {where.filename}:{where.lineno}" if where else "")
    return Message(code=Code.INTERNAL_SERVER_ERROR)
