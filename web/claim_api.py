"""The customer claim and re-claim endpoints (SPEC.md section 2), with the reference's
exact answers: 200 ``{"device": {...}, "response": "SUCCESS"}``, 400 with the bare JSON
string ``"CLAIMED"`` or ``"FAILURE"``, 404 for an unknown device, 200 with an empty body
for a re-claim. The rules are in :mod:`gridlinks.core.claiming`."""

from __future__ import annotations

import json

from aiohttp import web

from gridlinks.core import hookimpl
from gridlinks.core.claiming import SUCCESS
from gridlinks.core.devices import decode_json
from gridlinks.core.errors import BadRequest
from gridlinks.web.rest_auth import principal

CLAIM_PATH = "/api/customer/device/{deviceName}/claim"


def _secret(raw: bytes) -> str:
    """``{"secretKey": "..."}``; no body, no member or null all mean ""."""
    if not raw.strip():
        return ""
    body = decode_json(raw, "claim request")
    if body is None:
        return ""
    if not isinstance(body, dict):
        raise BadRequest("claim request must be a JSON object")
    secret = body.get("secretKey")
    if secret is None:
        return ""
    if not isinstance(secret, str):
        raise BadRequest("secretKey must be a string")
    return secret


class ClaimApi:
    def __init__(self, hub):
        self.hub = hub

    async def claim(self, request: web.Request) -> web.Response:
        who = await principal(request, self.hub)
        secret = _secret(await request.read())
        result = await self.hub.claiming.claim(who, request.match_info["deviceName"], secret)
        if result.response != SUCCESS:
            return web.Response(status=400, text=json.dumps(result.response), content_type="application/json")
        return web.json_response({"device": self.hub.devices.to_json(result.device), "response": SUCCESS})

    async def reclaim(self, request: web.Request) -> web.Response:
        who = await principal(request, self.hub)
        await self.hub.claiming.reclaim(who, request.match_info["deviceName"])
        return web.Response(status=200)


@hookimpl
def register_web_routes(hub, app):
    api = ClaimApi(hub)
    app.router.add_post(CLAIM_PATH, api.claim)
    app.router.add_delete(CLAIM_PATH, api.reclaim)
