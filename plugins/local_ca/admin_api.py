"""Admin REST for the local CA (tenant admins, ``X-Authorization: Bearer``), so a running
hub revokes in its own process (its MQTT sessions end at once):

- ``GET /api/localCa``: the tenant's CA (PEM, serial, expiry) and the retired CAs still trusted;
- ``POST /api/localCa/revoke`` with ``{"serial": "hex"}`` or ``{"deviceName": "..."}``
  (and optionally ``"reason"``): the revoked certificates' serials.
"""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints

from gridlinks.core.errors import BadRequest
from gridlinks.core.storage.models import Authority
from gridlinks.plugins.local_ca.service import LocalCa
from gridlinks.web.bodies import parse_body
from gridlinks.web.openapi import api_doc
from gridlinks.web.rest_auth import principal

BASE = "/api/localCa"
Short = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class RevokeBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    serial: Short | None = None
    deviceName: Short | None = None
    reason: Short = "revoked by an administrator"


class RetiredCa(BaseModel):
    serial: str
    notAfter: int  # noqa: N815 - JSON name


class CaOut(BaseModel):
    certificate: str
    serial: str
    notAfter: int  # noqa: N815 - JSON name
    retired: list[RetiredCa]


class RevokedOut(BaseModel):
    revoked: list[str]


class LocalCaApi:
    def __init__(self, hub, service: LocalCa):
        self.hub = hub
        self.service = service

    async def _admin(self, request: web.Request):
        who = await principal(request, self.hub, Authority.TENANT_ADMIN)
        if who.tenant_id is None:
            raise BadRequest("a tenant admin's request")
        return who

    @api_doc("The tenant's device CA and the retired CAs still trusted", tag="local CA", response=CaOut)
    async def show(self, request: web.Request) -> web.Response:
        who = await self._admin(request)
        authority = await self.service.authority(who.tenant_id, who.email)
        return web.json_response({
            "certificate": authority.pem, "serial": f"{authority.cert.serial_number:x}",
            "notAfter": int(authority.cert.not_valid_after_utc.timestamp() * 1000),
            "retired": [{"serial": f"{c.serial_number:x}", "notAfter": int(c.not_valid_after_utc.timestamp() * 1000)}
                        for c in authority.retired]})

    @api_doc("Revoke device certificates by serial or device name (their sessions end)", tag="local CA",
             body=RevokeBody, body_required=True, response=RevokedOut)
    async def revoke(self, request: web.Request) -> web.Response:
        who = await self._admin(request)
        body = await parse_body(request, RevokeBody)
        if (body.serial is None) == (body.deviceName is None):
            raise BadRequest("give exactly one of serial and deviceName")
        rows = await self.service.revoke(who.tenant_id, serial=body.serial, device_name=body.deviceName,
                                         reason=body.reason, actor=who.email)
        return web.json_response({"revoked": [row.serial for row in rows]})


def add_routes(hub, app: web.Application, service: LocalCa) -> None:
    api = LocalCaApi(hub, service)
    app.router.add_get(BASE, api.show)
    app.router.add_post(BASE + "/revoke", api.revoke)
