"""The device-facing HTTP API (SPEC.md sections 1 and 2): provisioning, telemetry,
attributes, claim info.

Status codes are the reference's: 200 with an empty body on success, 401 with an empty
body for an unknown token, 400 for a body that is not JSON, 413 over the payload limit.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gridlinks.core.errors import BadRequest, PayloadTooLarge
from gridlinks.core.services.device_payloads import decode_json
from gridlinks.web.bodies import limits, read_body
from gridlinks.web.openapi import DEVICE, PUBLIC, api_doc
from gridlinks.web.openapi_schemas import DeviceAttributes, ProvisionResponse
from gridlinks.web.schemas import AttributesBody, DeviceAttributesQuery, DeviceClaimBody, ProvisionBody, TelemetryBody

TRANSPORT = "HTTP"
DeviceHandler = Callable[[Any, web.Request, Any], Awaitable[web.Response]]


def authenticated(handler: DeviceHandler) -> Callable[[Any, web.Request], Awaitable[web.Response]]:
    """Look the path's token up first: an unknown one is 401 with an empty body (the
    reference's answer), and its body is never read. Refusals (401, and 400/413 for the
    body) are reported to ``hub.rejections`` (audit log, metrics)."""
    @functools.wraps(handler)
    async def route(self: DeviceRoutes, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        device = await self.api.authenticate(TRANSPORT, token)
        if device is None:
            await self.hub.rejections.auth_failed(TRANSPORT, "401", "unknown access token", token)
            return web.Response(status=401)
        return await reporting_rejections(self.hub, device, handler(self, request, device))
    return route


async def reporting_rejections(hub, device, answer: Awaitable[Any]) -> Any:
    """Await the handler; a body refused (400, 413) is reported, then answered as before."""
    try:
        return await answer
    except PayloadTooLarge as exc:
        await hub.rejections.request_rejected(TRANSPORT, "413", str(exc), device)
        raise
    except BadRequest as exc:
        await hub.rejections.request_rejected(TRANSPORT, "400", str(exc), device)
        raise


class DeviceRoutes:
    """The HTTP codec of :class:`gridlinks.core.services.device_api.DeviceApi`: the
    request in, one service call, the response out (errors: :mod:`.errors`)."""

    def __init__(self, hub):
        self.hub = hub
        self.api = hub.device_api

    async def _body(self, request: web.Request) -> bytes:
        return await read_body(request, self.hub.settings.max_payload_bytes)

    @api_doc("Provision a device with a profile's key and secret", tag="device API", auth=PUBLIC,
             body=ProvisionBody, body_required=True, response=ProvisionResponse, errors=(400, 413))
    async def provision(self, request: web.Request) -> web.Response:
        # Nobody is authenticated yet: the smaller of the two limits applies.
        limit = min(self.hub.settings.max_payload_bytes, limits(request).unauthenticated)
        body = await reporting_rejections(self.hub, None, self._json(request, limit))
        return web.json_response(await self.hub.provisioning.provision(body, TRANSPORT))

    @staticmethod
    async def _json(request: web.Request, limit: int) -> Any:
        return decode_json(await read_body(request, limit))

    @api_doc("Post telemetry (answered once stored)", tag="device API", auth=DEVICE, body=TelemetryBody,
             body_required=True)
    @authenticated
    async def telemetry(self, request: web.Request, device) -> web.Response:
        await self.api.post_telemetry(device, await self._body(request))
        return web.Response(status=200)

    @api_doc("Post client-side attributes", tag="device API", auth=DEVICE, body=AttributesBody,
             body_required=True)
    @authenticated
    async def post_attributes(self, request: web.Request, device) -> web.Response:
        await self.api.post_attributes(device, await self._body(request))
        return web.Response(status=200)

    @api_doc("Read client-side and shared attributes", tag="device API", auth=DEVICE,
             query=DeviceAttributesQuery, response=DeviceAttributes)
    @authenticated
    async def get_attributes(self, request: web.Request, device) -> web.Response:
        return web.json_response(await self.api.read_attributes(
            device, request.query.get("clientKeys"), request.query.get("sharedKeys")))

    @api_doc("Claim info: the secret a customer claims this device with", tag="device API", auth=DEVICE,
             body=DeviceClaimBody)
    @authenticated
    async def claim(self, request: web.Request, device) -> web.Response:
        """Claim info from the device; a refusal is a 4xx with the reason (SPEC.md section 2)."""
        await self.api.post_claim(device, await self._body(request), TRANSPORT)
        return web.Response(status=200)


def add_device_routes(hub, app: web.Application) -> None:
    api = DeviceRoutes(hub)
    app.router.add_post("/api/v1/provision", api.provision)
    app.router.add_post("/api/v1/{token}/telemetry", api.telemetry)
    app.router.add_post("/api/v1/{token}/attributes", api.post_attributes)
    app.router.add_get("/api/v1/{token}/attributes", api.get_attributes)
    app.router.add_post("/api/v1/{token}/claim", api.claim)
