"""Profile secret REST routes beside the reference's profile API: secret rotation and
per-device derived secrets (docs/provisioning.md).

- ``POST /api/deviceProfile/{id}/rotateSecret`` ``{"expireOldAfter": "7d"}`` starts a
  rotation (a new secret; the old one keeps working), ``{"finish": true}`` ends it, and
  ``{"expireOldAfter": "1h"}`` while one runs sets when the old secret stops. Answers the
  profile (its new ``provisionDeviceSecret``, and ``secretRotation``: since, previousExpiresAt).
- ``GET /api/deviceProfile/{id}/derivedSecret?deviceName=D``: ``{"deviceName", "provisionDeviceSecret"}``.
"""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import StrictBool, StringConstraints

from gridlinks.core.errors import BadRequest
from gridlinks.core.services.provision_policy import derive_secret, parse_duration_ms
from gridlinks.core.storage.models import Authority
from gridlinks.web.bodies import parse_body, parse_query
from gridlinks.web.openapi import api_doc
from gridlinks.web.openapi_schemas import Out, ProfileOut
from gridlinks.web.rest_auth import principal
from gridlinks.web.schemas import NAME_MAX, Body, Name

ADMINS = (Authority.TENANT_ADMIN, Authority.SYS_ADMIN)


class RotateSecretBody(Body):
    finish: StrictBool | None = None
    expireOldAfter: Annotated[str, StringConstraints(max_length=20)] | None = None  # noqa: N815 - JSON name
    secret: Annotated[str, StringConstraints(min_length=1, max_length=NAME_MAX)] | None = None


class DerivedSecretQuery(Body):
    deviceName: Name  # noqa: N815 - the query parameter's name


class DerivedSecretOut(Out):
    deviceName: str  # noqa: N815 - JSON name
    provisionDeviceSecret: str  # noqa: N815 - JSON name


class ProfileSecretApi:
    def __init__(self, hub):
        self.hub = hub

    @api_doc("Rotate the profile's provision secret (start, set the old one's expiry, or finish)",
             tag="device profiles", body=RotateSecretBody, response=ProfileOut)
    async def rotate(self, request: web.Request) -> web.Response:
        who = await principal(request, self.hub, *ADMINS)
        body = await parse_body(request, RotateSecretBody, empty={})
        profile = await self.hub.profiles.get(who.tenant_id, request.match_info["id"])
        expire = parse_duration_ms(body.expireOldAfter) if body.expireOldAfter else None
        profile = await self.hub.profiles.rotate_secret(profile, finish=bool(body.finish), expire_after_ms=expire,
                                                        new_secret=body.secret, actor=who.email)
        return web.json_response(self.hub.profiles.to_json(profile))

    @api_doc("A device's derived provision secret (profiles with derivedSecrets)", tag="device profiles",
             query=DerivedSecretQuery, response=DerivedSecretOut)
    async def derived(self, request: web.Request) -> web.Response:
        who = await principal(request, self.hub, *ADMINS)
        query = parse_query(request, DerivedSecretQuery)
        profile = await self.hub.profiles.get(who.tenant_id, request.match_info["id"])
        name = query.deviceName.strip()
        if not name or not profile.provision_secret:
            raise BadRequest("a device name and a profile with a secret are needed")
        return web.json_response({"deviceName": name,
                                  "provisionDeviceSecret": derive_secret(profile.provision_secret, name)})


def add_routes(hub, app: web.Application) -> None:
    api = ProfileSecretApi(hub)
    app.router.add_post("/api/deviceProfile/{id}/rotateSecret", api.rotate)
    app.router.add_get("/api/deviceProfile/{id}/derivedSecret", api.derived)
