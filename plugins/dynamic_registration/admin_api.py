"""Admin REST for dynamic registration (tenant admins, ``X-Authorization: Bearer``):

- ``GET /api/dynamicRegistration/product/{profileId}``: ProductSN, ProductSecret, the
  switch, device counts;
- ``POST`` the same with ``{"dynamicRegistration": true|false}``: switch it;
- ``GET /api/dynamicRegistration/device/{deviceId}``: the device's registration state;
- ``POST /api/dynamicRegistration/device/{deviceId}/secret`` with ``{"secret": "..."}``
  (or no body: generated): static registration, answered once with the secret;
- ``DELETE /api/dynamicRegistration/device/{deviceId}``: reset (the device may ask again).

Errors use the admin API's JSON error body (the HTTP transport maps hub errors).
"""

from __future__ import annotations

from aiohttp import web

from gridlinks.core.storage.models import Authority
from gridlinks.plugins.dynamic_registration.service import DynamicRegistration
from gridlinks.web.bodies import parse_body
from gridlinks.web.openapi import api_doc
from gridlinks.web.openapi_schemas import JsonObject
from gridlinks.web.rest_auth import principal
from gridlinks.web.schemas import DynamicRegistrationSwitch, StaticSecretBody

BASE = "/api/dynamicRegistration"


class DynamicRegistrationApi:
    def __init__(self, hub, service: DynamicRegistration):
        self.hub = hub
        self.service = service

    async def _admin(self, request: web.Request):
        return await principal(request, self.hub, Authority.TENANT_ADMIN, Authority.SYS_ADMIN)

    async def _profile(self, request: web.Request):
        who = await self._admin(request)
        return who, await self.hub.profiles.get(who.tenant_id, request.match_info["id"])

    async def _device(self, request: web.Request):
        who = await self._admin(request)
        return who, await self.hub.devices.get(who.tenant_id, request.match_info["id"])

    @api_doc("A profile's dynamic registration (ProductSN, secret, switch, counts)", tag="dynamic registration",
             response=JsonObject)
    async def get_product(self, request: web.Request) -> web.Response:
        _, profile = await self._profile(request)
        return web.json_response(await self.service.product(profile))

    @api_doc("Switch dynamic registration on or off", tag="dynamic registration", body=DynamicRegistrationSwitch,
             response=JsonObject)
    async def switch(self, request: web.Request) -> web.Response:
        who, profile = await self._profile(request)
        on = (await parse_body(request, DynamicRegistrationSwitch, empty={})).dynamicRegistration
        profile = await self.service.switch(profile, on, who.email)
        return web.json_response(await self.service.product(profile))

    @api_doc("A device's registration state", tag="dynamic registration", response=JsonObject)
    async def get_device(self, request: web.Request) -> web.Response:
        _, device = await self._device(request)
        return web.json_response(await self.service.device(device))

    @api_doc("Static registration: set (or generate) the device's secret", tag="dynamic registration",
             body=StaticSecretBody, response=JsonObject)
    async def set_secret(self, request: web.Request) -> web.Response:
        who, device = await self._device(request)
        secret = (await parse_body(request, StaticSecretBody, empty={})).secret
        password = await self.service.set_secret(device, secret, who.email)
        return web.json_response({**await self.service.device(device), "password": password})

    @api_doc("Reset a device's registration", tag="dynamic registration", response=JsonObject)
    async def reset(self, request: web.Request) -> web.Response:
        who, device = await self._device(request)
        await self.service.reset(device, who.email)
        return web.json_response(await self.service.device(device))


def add_routes(hub, app: web.Application, service: DynamicRegistration) -> None:
    api = DynamicRegistrationApi(hub, service)
    r = app.router
    r.add_get(BASE + "/product/{id}", api.get_product)
    r.add_post(BASE + "/product/{id}", api.switch)
    r.add_get(BASE + "/device/{id}", api.get_device)
    r.add_post(BASE + "/device/{id}/secret", api.set_secret)
    r.add_delete(BASE + "/device/{id}", api.reset)
