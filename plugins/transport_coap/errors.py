"""The one place hub errors become CoAP response codes.

The payload of an error response is the hub's message as a CoAP diagnostic payload
(RFC 7252 5.5.2: UTF-8 text for people, not parsed by devices); hub error messages
never contain secrets. Too-many-attempts carries Max-Age, CoAP's Retry-After.
"""

from __future__ import annotations

from aiocoap import Code, Message

from gridlinks.core.errors import (BadRequest, Conflict, Forbidden, HubError, NotFound, PayloadTooLarge,
                                   TooManyAttempts, Unauthorized)

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
]


def code_for(exc: HubError) -> Code:
    for cls, code in _MAPPING:
        if isinstance(exc, cls):
            return code
    return Code.BAD_REQUEST


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
