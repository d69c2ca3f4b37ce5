"""The aiocoap root resource: every request to the CoAP port comes through here.

Before anything is decoded it enforces the payload limit (``max_payload_bytes``):
a block-wise upload is refused with 4.13 at the first block that would pass it, so a
client cannot make the hub buffer more than the limit per transfer, and a datagram too
big for aiocoap's receive buffer (which it would silently truncate) is refused rather
than parsed. Options the hub does not implement are refused as RFC 7252 asks: an
unrecognised critical option (If-Match, Proxy-Uri, OSCORE, ...) is 4.02, an Accept the
route cannot produce 4.06, a body in a Content-Format that is not JSON text 4.15. Then
the path is routed, the access token in it authenticated, the handler run, and errors
turned into CoAP codes in :mod:`.errors` (the one place that does that).

Every request ends in exactly one answer: nothing raised below ``render_to_pipe``
reaches aiocoap, whose own handler would log a traceback per request.
"""

from __future__ import annotations

import logging

from aiocoap import Code, Message, interfaces
from aiocoap.error import RenderableError
from aiocoap.numbers import ContentFormat, OptionNumber
from aiocoap.resource import PathCapable
from aiocoap.util.asyncio.recvmsg import RecvmsgSelectorDatagramTransport

from gridlinks.core.errors import BadRequest, HubError
from gridlinks.plugins.transport_coap.errors import (
    code_for,
    hub_error_response,
    refusal,
    too_large_response,
    unexpected_error_response,
)
from gridlinks.plugins.transport_coap.routes import TOKEN, CoapCall, MethodNotAllowed, Router, empty_response

log = logging.getLogger(__name__)

TRANSPORT = "COAP"
# aiocoap reads datagrams into a buffer of this size and drops what does not fit.
RECEIVE_BUFFER = getattr(RecvmsgSelectorDatagramTransport, "max_size", 4096)
# Critical options the hub acts on (or, for Uri-Host/Uri-Port, may ignore: one origin).
RECOGNISED_CRITICAL = frozenset({OptionNumber.URI_HOST, OptionNumber.URI_PORT, OptionNumber.URI_PATH,
                                 OptionNumber.URI_QUERY, OptionNumber.ACCEPT, OptionNumber.BLOCK1,
                                 OptionNumber.BLOCK2})
# Bodies are JSON text; these formats are read as such (the reference reads any body as
# JSON, and clients label it application/json, text/plain or octet-stream).
READABLE_FORMATS = frozenset({ContentFormat.JSON, ContentFormat.TEXT, ContentFormat.OCTETSTREAM})


class DeviceSite(interfaces.ObservableResource, PathCapable):
    def __init__(self, hub, router: Router):
        super().__init__()  # sets up aiocoap's block-wise spools
        self.hub = hub
        self.router = router

    # -- aiocoap's resource interface -----------------------------------------------

    async def needs_blockwise_assembly(self, request) -> bool:
        return True

    async def render_to_pipe(self, pipe) -> None:
        request = pipe.request
        limit = self.hub.settings.max_payload_bytes
        try:
            refused = self._refusal(request, limit)
            if refused is not None:
                if refused.code == Code.REQUEST_ENTITY_TOO_LARGE:
                    await self.hub.rejections.request_rejected(TRANSPORT, refused.code.dotted,
                                                               f"payload is larger than {limit} bytes")
                pipe.add_response(refused, is_last=True)
            elif request.opt.observe == 0 and request.code == Code.GET:
                await interfaces.ObservableResource._render_to_pipe(self, pipe)
            else:
                # An Observe option on anything but GET is ignored, and the body assembled.
                await interfaces.Resource._render_to_pipe(self, pipe)
        except RenderableError as exc:
            # Block-wise bookkeeping (2.31 Continue per block, 4.08 for a gap, 4.00 for a
            # block out of bounds): answered here rather than by aiocoap, which would log
            # every block at INFO.
            pipe.add_response(exc.to_message(), is_last=True)
        except Exception as exc:
            pipe.add_response(unexpected_error_response(exc, request), is_last=True)

    async def add_observation(self, request, serverobservation) -> None:
        """Register the observation, or decline it so that the request is answered as a
        plain GET (RFC 7641 4.1 allows that): aiocoap 0.4.17 calls the cancellation
        callback that only ``accept()`` sets when the observation ends, whether accepted
        or not, so a declined one is accepted with a no-op and deregistered at once.
        """
        accepted = False
        try:
            found = self.router.find(request.code, request.opt.uri_path)
            if found is not None and found[0].observe is not None:
                route, params = found
                device = await self._device(params)
                if device is not None:
                    accepted = route.observe(device, serverobservation)
        except (HubError, MethodNotAllowed):
            pass  # render() answers the same request with the error
        except Exception as exc:
            log.error("CoAP observe registration failed: %s: %s", type(exc).__name__, str(exc)[:200])
        if not accepted:
            serverobservation.accept(_nothing)
            serverobservation.deregister()

    async def render(self, request) -> Message:
        try:
            return await self._dispatch(request)
        except HubError as exc:
            if isinstance(exc, BadRequest):  # the body refused: audited sparingly, counted
                await self.hub.rejections.request_rejected(TRANSPORT, code_for(exc).dotted, str(exc))
            return hub_error_response(exc)
        except Exception as exc:
            return unexpected_error_response(exc, request)

    # -- ours ---------------------------------------------------------------------------

    def _refusal(self, request, limit: int) -> Message | None:
        """The answer to a request refused before routing, or None."""
        if self._over_limit(request, limit):
            return too_large_response(limit)
        unknown = sorted({int(option.number) for option in request.opt.option_list()
                          if option.number.is_critical() and option.number not in RECOGNISED_CRITICAL})
        if unknown:
            return refusal(Code.BAD_OPTION, "unsupported critical option " + ", ".join(map(str, unknown)))
        fmt = request.opt.content_format
        if fmt is not None and request.payload and fmt not in READABLE_FORMATS:
            return refusal(Code.UNSUPPORTED_CONTENT_FORMAT, "the body must be JSON (Content-Format 50)")
        return None

    @staticmethod
    def _over_limit(request, limit: int) -> bool:
        block1 = request.opt.block1
        if block1 is not None:
            return block1.start + len(request.payload) > limit or (request.opt.size1 or 0) > limit
        if len(request.payload) > limit:
            return True
        # header + token + options + payload marker + payload, as on the wire
        received = 4 + len(request.token) + len(request.opt.encode()) + 1 + len(request.payload)
        return received >= RECEIVE_BUFFER

    async def _dispatch(self, request) -> Message:
        try:
            found = self.router.find(request.code, request.opt.uri_path)
        except MethodNotAllowed:
            return empty_response(Code.METHOD_NOT_ALLOWED)
        if found is None:
            return empty_response(Code.NOT_FOUND)
        route, params = found
        accept = request.opt.accept
        if accept is not None and route.produces is not None and accept != route.produces:
            return refusal(Code.NOT_ACCEPTABLE, "this resource answers in JSON (Content-Format 50) only")
        call = CoapCall(request, params)
        if route.needs_device:
            call.device = await self._device(params)
            if call.device is None:
                await self.hub.rejections.auth_failed(TRANSPORT, Code.UNAUTHORIZED.dotted, "unknown access token",
                                                      params[TOKEN])
                return empty_response(Code.UNAUTHORIZED)
        return await route.handler(call)

    async def _device(self, params: dict[str, str]):
        return await self.hub.device_api.authenticate(TRANSPORT, params[TOKEN])


def _nothing() -> None:
    """The cancellation callback of a declined observation."""
