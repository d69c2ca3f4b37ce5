"""The customer claim and re-claim endpoints (SPEC.md section 2), with the reference's
exact answers: 200 ``{"device": {...}, "response": "SUCCESS"}``, 400 with the bare JSON
string ``"CLAIMED"`` or ``"FAILURE"``, 404 for an unknown device, 200 with an empty body
for a re-claim. The rules are in :mod:`gridlinks.core.services.claiming`."""

from __future__ import annotations

import json

from aiohttp import web

from gridlinks.core import hookimpl
from gridlinks.core.services.claiming import SUCCESS
from gridlinks.web.bodies import read_json, validate
from gridlinks.web.openapi import USER, api_doc
from gridlinks.web.openapi_schemas import ClaimRefusal, ClaimResult
from gridlinks.web.rest_auth import principal
from gridlinks.web.schemas import ClaimBody

CLAIM_PATH = "/api/customer/device/{deviceName}/claim"


async def _secret(request: web.Request) -> str:
    """``{"secretKey": "..."}``; no body, a ``null`` body, no member or null all mean ""."""
    body = await read_json(request, what="claim request", empty={})
    return validate(ClaimBody, {} if body is None else body).secretKey or ""


class ClaimApi:
    def __init__(self, hub):
        self.hub = hub

    @api_doc("Claim a device with its secret", tag="claiming", auth=USER, body=ClaimBody, response=ClaimResult,
             errors=(401, 403, 404, 413, 429), responses={400: ("CLAIMED, FAILURE, or a bad request", ClaimRefusal)})
    async def claim(self, request: web.Request) -> web.Response:
        who = await principal(request, self.hub)
        secret = await _secret(request)
        result = await self.hub.claiming.claim(who, request.match_info["deviceName"], secret)
        if result.response != SUCCESS:
            return web.Response(status=400, text=json.dumps(result.response), content_type="application/json")
        return web.json_response({"device": self.hub.devices.to_json(result.device), "response": SUCCESS})

    @api_doc("Give a claimed device back (re-claim)", tag="claiming", auth=USER, errors=(401, 403, 404))
    async def reclaim(self, request: web.Request) -> web.Response:
        who = await principal(request, self.hub)
        await self.hub.claiming.reclaim(who, request.match_info["deviceName"])
        return web.Response(status=200)


@hookimpl
def register_web_routes(hub, app):
    api = ClaimApi(hub)
    app.router.add_post(CLAIM_PATH, api.claim)
    app.router.add_delete(CLAIM_PATH, api.reclaim)
