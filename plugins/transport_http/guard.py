"""Connection limits aiohttp does not have: a header-read timeout, a body-read timeout
and a cap on concurrent connections (the idle keep-alive timeout is aiohttp's own).

Without them one client holds a connection forever: slowloris (headers sent a byte at a
time), a body that never finishes, or thousands of sockets that never send anything.
The timeouts are nginx's (``client_header_timeout``, ``client_body_timeout``,
``keepalive_timeout``):

- header timeout: from the connection's start, or from the first byte of a request on a
  kept-alive connection, until that request's headers are complete;
- body timeout: while a request's body is incomplete, the longest gap between two
  pieces of it (a slow but moving upload is fine);
- keep-alive timeout: a connection with no request in progress is closed after this long.

Timed-out connections are closed without an answer (there is no request to answer yet,
or only half of one), as nginx does. Connections over ``max_connections`` get a 503 with
the hub's JSON error body and are closed at once; those already open are unaffected.

How: the AppRunner's protocol factory (:class:`aiohttp.web.Server`) builds a
:class:`GuardedRequestHandler`, aiohttp's own RequestHandler plus two timers. It relies on
attributes that are not documented API (RequestHandler's ``_request_count``,
``_messages``, ``_reading_paused``, ``_loop``; Server's ``_connections``, ``_kwargs``,
``_loop``); tests/plugins/transport_http/test_http_limits.py checks the behaviour on real sockets, so an aiohttp
upgrade that changes them fails there.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from gridlinks.plugins.transport_http.errors import error_response

log = logging.getLogger(__name__)
SERVER_HEADER = "GridLinks"  # the Server header (server.py sets it on every routed answer)


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float = 60.0
    body_timeout_s: float = 60.0
    keepalive_timeout_s: float = 75.0
    max_connections: int = 10_000


def _refusal(status: int, message: str) -> bytes:
    body = json.dumps({"status": status, "message": message, "errorCode": 2}).encode()
    head = (f"HTTP/1.1 {status} Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\nRetry-After: 1\r\n\r\n")
    return head.encode() + body


_TOO_MANY = _refusal(503, "Too many connections")


class RefusedConnection(asyncio.Protocol):
    """A connection over the cap: told 503 at once and closed once its request has been
    read (or after a second): closing with unread data would reset the connection and
    could destroy the 503 before the client reads it."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(_TOO_MANY)
        self._timer = asyncio.get_running_loop().call_later(1.0, self._close)

    def data_received(self, data: bytes) -> None:
        self._close()

    def eof_received(self) -> bool:
        self._close()
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._transport = None

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


class OneLineLogger(logging.LoggerAdapter):
    """aiohttp's server logger without tracebacks: the exception's type is appended to
    the line instead (it logs one, even at debug level, for random bytes on the port)."""

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter):
        super().__init__(logger, {})

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        exc = kwargs.pop("exc_info", None)
        if exc is True:
            exc = sys.exc_info()[1]
        if isinstance(exc, BaseException):
            msg = f"{msg}: {type(exc).__name__}"
        kwargs.pop("stack_info", None)
        self.logger.log(level, msg, *args, **kwargs)


class GuardedRequestHandler(web.RequestHandler):
    """aiohttp's per-connection protocol with header and body read timeouts."""

    def __init__(self, manager: GuardedServer, *, limits: ConnectionLimits, **kwargs: Any):
        super().__init__(manager, **kwargs)
        self.logger = OneLineLogger(self.logger)
        self._limits = limits
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body: Any = None  # the payload (StreamReader) of the request whose body is being read
        self._awaiting_headers = False
        self._busy = False  # from a request's complete headers until its response is written
        self._last_data = 0.0

    # -- aiohttp protocol events -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._start_header_timer()

    def data_received(self, data: bytes) -> None:
        self._last_data = self._loop.time()
        if data and not self._awaiting_headers and not self._busy:
            self._start_header_timer()  # first byte of the next request on a kept-alive connection
        parsed_before = self._request_count
        super().data_received(data)
        if self._request_count > parsed_before:  # a request's headers are complete
            self._stop_header_timer()
            self._busy = True
            if self._messages:
                payload = self._messages[-1][1]
                if not payload.is_eof():
                    self._watch_body(payload)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_header_timer()
        self._stop_body_timer()
        super().connection_lost(exc)

    async def finish_response(self, request, resp, start_time):  # type: ignore[no-untyped-def]
        result = await super().finish_response(request, resp, start_time)
        self._stop_body_timer()
        self._busy = bool(self._messages)  # pipelined requests still queued
        return result

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        """A request aiohttp could not parse (a request line over 8190 bytes, a bad header):
        the hub's JSON error body and Server header, never what was sent (a path may hold
        a device's access token)."""
        super().handle_error(request, status, exc, message)  # logs; raises if an answer was already sent
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        response = error_response(status, phrase, headers={"Server": SERVER_HEADER})
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """A malformed request is the client's fault: a debug line, not an error."""
        exc = kw.get("exc_info")
        level = logging.DEBUG if isinstance(exc, HttpProcessingError) else logging.WARNING
        self.logger.log(level, *args, **kw)

    # -- timers --------------------------------------------------------------------------------

    def _start_header_timer(self) -> None:
        self._stop_header_timer()
        self._awaiting_headers = True
        self._header_timer = self._loop.call_later(self._limits.header_timeout_s, self._header_timed_out)

    def _stop_header_timer(self) -> None:
        self._awaiting_headers = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self._awaiting_headers and self.transport is not None:
            log.debug("closing a connection whose request headers did not arrive within %.0f s",
                      self._limits.header_timeout_s)
            self.force_close()

    def _watch_body(self, payload: Any) -> None:
        self._stop_body_timer()
        self._body = payload
        self._body_timer = self._loop.call_later(self._limits.body_timeout_s, self._check_body)

    def _stop_body_timer(self) -> None:
        self._body = None
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _check_body(self) -> None:
        self._body_timer = None
        payload = self._body
        if payload is None or payload.is_eof() or self.transport is None:
            self._body = None
            return
        now = self._loop.time()
        if getattr(self, "_reading_paused", False):
            # Flow control paused reading: the handler has not taken what is buffered,
            # so the client cannot send more; that silence is not the client's.
            self._last_data = now
        deadline = self._last_data + self._limits.body_timeout_s
        if now < deadline:
            self._body_timer = self._loop.call_at(deadline, self._check_body)
            return
        log.debug("closing a connection whose request body stalled for %.0f s", self._limits.body_timeout_s)
        self.force_close()


class GuardedServer(web.Server):
    """The protocol factory: a GuardedRequestHandler per connection, or a refusal past the cap."""

    def __init__(self, plain: web.Server, limits: ConnectionLimits):
        super().__init__(plain.request_handler, request_factory=plain.request_factory,
                         handler_cancellation=plain.handler_cancellation, loop=plain._loop, **plain._kwargs)
        self.limits = limits
        self.refused = 0

    def __call__(self) -> asyncio.Protocol:  # type: ignore[override]
        if len(self._connections) >= self.limits.max_connections:
            self.refused += 1
            if self.refused == 1 or self.refused % 1000 == 0:
                log.warning("HTTP connection refused: %d open (http.max_connections); %d refused so far",
                            len(self._connections), self.refused)
            return RefusedConnection()
        return GuardedRequestHandler(self, loop=self._loop, limits=self.limits, **self._kwargs)


class GuardedAppRunner(web.AppRunner):
    """An AppRunner whose server is a :class:`GuardedServer`."""

    def __init__(self, app: web.Application, limits: ConnectionLimits, **kwargs: Any):
        super().__init__(app, keepalive_timeout=limits.keepalive_timeout_s, **kwargs)
        self._limits = limits

    async def _make_server(self) -> web.Server:
        return GuardedServer(await super()._make_server(), self._limits)
