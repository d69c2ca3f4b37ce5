"""The device-facing HTTP API (SPEC.md sections 1 and 2): provisioning, telemetry,
attributes, claim info.

Status codes are the reference's: 200 with an empty body on success, 401 with an empty
body for an unknown token, 400 for a body that is not JSON, 413 over the payload limit.
"""

from __future__ import annotations

from aiohttp import web

from gridlinks.core.devices import decode_json
from gridlinks.core.errors import PayloadTooLarge
from gridlinks.core.types import PresentedCredentials

TRANSPORT = "HTTP"


async def read_limited(request: web.Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to be over ``limit``."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"payload is larger than {limit} bytes")
    body = await request.content.read(limit + 1)
    if len(body) > limit:
        raise PayloadTooLarge(f"payload is larger than {limit} bytes")
    return body


def _keys(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [k.strip() for k in value.split(",") if k.strip()]


class DeviceApi:
    def __init__(self, hub):
        self.hub = hub

    async def _json_body(self, request: web.Request):
        return decode_json(await read_limited(request, self.hub.settings.max_payload_bytes))

    async def _device(self, request: web.Request):
        return await self.hub.credentials.authenticate(
            PresentedCredentials(TRANSPORT, token=request.match_info["token"]))

    async def provision(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        return web.json_response(await self.hub.provisioning.provision(body, TRANSPORT))

    async def telemetry(self, request: web.Request) -> web.Response:
        device = await self._device(request)
        if device is None:
            return web.Response(status=401)
        await self.hub.devices.save_telemetry(device, await self._json_body(request))
        return web.Response(status=200)

    async def post_attributes(self, request: web.Request) -> web.Response:
        device = await self._device(request)
        if device is None:
            return web.Response(status=401)
        await self.hub.devices.set_attributes(device, "CLIENT_SCOPE", await self._json_body(request), source="device")
        return web.Response(status=200)

    async def get_attributes(self, request: web.Request) -> web.Response:
        device = await self._device(request)
        if device is None:
            return web.Response(status=401)
        result = await self.hub.devices.device_attributes(
            device, _keys(request.query.get("clientKeys")), _keys(request.query.get("sharedKeys")))
        return web.json_response(result)

    async def claim(self, request: web.Request) -> web.Response:
        """Claim info from the device; a refusal is a 4xx with the reason (SPEC.md section 2)."""
        device = await self._device(request)
        if device is None:
            return web.Response(status=401)
        raw = await read_limited(request, self.hub.settings.max_payload_bytes)
        await self.hub.claiming.register(device, decode_json(raw) if raw.strip() else {}, TRANSPORT)
        return web.Response(status=200)


def add_device_routes(hub, app: web.Application) -> None:
    api = DeviceApi(hub)
    app.router.add_post("/api/v1/provision", api.provision)
    app.router.add_post("/api/v1/{token}/telemetry", api.telemetry)
    app.router.add_post("/api/v1/{token}/attributes", api.post_attributes)
    app.router.add_get("/api/v1/{token}/attributes", api.get_attributes)
    app.router.add_post("/api/v1/{token}/claim", api.claim)
