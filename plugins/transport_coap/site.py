"""The aiocoap root resource: every request to the CoAP port comes through here.

Before anything is decoded it enforces the payload limit (``max_payload_bytes``):
a block-wise upload is refused with 4.13 at the first block that would pass it, so a
client cannot make the hub buffer more than the limit per transfer, and a datagram too
big for aiocoap's receive buffer (which it would silently truncate) is refused rather
than parsed. Then the path is routed, the access token in it authenticated, the
handler run, and hub errors turned into CoAP codes in :mod:`.errors`.
"""

from __future__ import annotations

import logging

from aiocoap import Code, Message, interfaces
from aiocoap.error import RenderableError
from aiocoap.resource import PathCapable
from aiocoap.util.asyncio.recvmsg import RecvmsgSelectorDatagramTransport

from gridlinks.core.errors import HubError
from gridlinks.core.types import PresentedCredentials
from gridlinks.plugins.transport_coap.errors import hub_error_response, too_large_response
from gridlinks.plugins.transport_coap.routes import TOKEN, CoapCall, MethodNotAllowed, Router, empty_response

log = logging.getLogger(__name__)

TRANSPORT = "COAP"
# aiocoap reads datagrams into a buffer of this size and drops what does not fit.
RECEIVE_BUFFER = getattr(RecvmsgSelectorDatagramTransport, "max_size", 4096)


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
        if self._over_limit(request, limit):
            pipe.add_response(too_large_response(limit), is_last=True)
            return
        try:
            if request.opt.observe == 0 and request.code == Code.GET:
                await interfaces.ObservableResource._render_to_pipe(self, pipe)
            else:
                # An Observe option on anything but GET is ignored, and the body assembled.
                await interfaces.Resource._render_to_pipe(self, pipe)
        except RenderableError as exc:
            # Block-wise bookkeeping (2.31 Continue per block, 4.08 for a gap): answered
            # here rather than by aiocoap, which would log every block at INFO.
            pipe.add_response(exc.to_message(), is_last=True)

    async def add_observation(self, request, serverobservation) -> None:
        try:
            found = self.router.find(request.code, request.opt.uri_path)
        except MethodNotAllowed:
            return
        if found is None or found[0].observe is None:
            return
        route, params = found
        device = await self._device(params)
        if device is not None:
            route.observe(device, serverobservation)

    async def render(self, request) -> Message:
        try:
            return await self._dispatch(request)
        except HubError as exc:
            return hub_error_response(exc)
        except Exception:
            log.exception("CoAP %s request failed", request.code)
            return empty_response(Code.INTERNAL_SERVER_ERROR)

    # -- ours ---------------------------------------------------------------------------

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
        call = CoapCall(request, params)
        if route.needs_device:
            call.device = await self._device(params)
            if call.device is None:
                return empty_response(Code.UNAUTHORIZED)
        return await route.handler(call)

    async def _device(self, params: dict[str, str]):
        return await self.hub.credentials.authenticate(PresentedCredentials(TRANSPORT, token=params[TOKEN]))
