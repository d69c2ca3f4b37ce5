"""The admin REST API, reference-shaped so existing REST clients work:
login and token refresh, device profiles, devices, attributes, telemetry reads,
bulk import and the audit log. Tenant admins manage their tenant; nothing here reaches
across tenants."""

from __future__ import annotations

import json

from aiohttp import web

from gridlinks.core import hookimpl
from gridlinks.core.errors import BadRequest, NotFound, Unauthorized
from gridlinks.core.services.audit import audit_json
from gridlinks.core.services.bulk_import import Mapping
from gridlinks.core.services.devices import NOT_FOUND
from gridlinks.core.storage.models import Authority, DeviceProfile, Scope, Tenant, now_ms
from gridlinks.core.storage.paging import parse_paging
from gridlinks.core.types import ProvisionRefused, ProvisionRequest
from gridlinks.web import openapi, profile_secret_api, session_api
from gridlinks.web.bodies import limits, parse_body, parse_query, read_json, validate
from gridlinks.web.openapi import PUBLIC, USER, api_doc
from gridlinks.web.openapi_schemas import (
    AttributeRow,
    AuditPage,
    BulkImportResult,
    CredentialsOut,
    CurrentUser,
    DeviceOut,
    PageData,
    ProfileOut,
    Timeseries,
    TokenPair,
)
from gridlinks.web.rest_auth import plausible_token, principal
from gridlinks.web.schemas import (
    NAME_MAX,
    AttributesBody,
    AuditQuery,
    BulkImportBody,
    DeleteKeysQuery,
    DeviceBody,
    DeviceListQuery,
    KeysQuery,
    LoginBody,
    ProfileBody,
    RefreshBody,
    SaveDeviceQuery,
    SearchPageQuery,
    TimeseriesQuery,
)

ADMINS = (Authority.TENANT_ADMIN, Authority.SYS_ADMIN)
_SCOPES = {"SERVER_SCOPE": Scope.SERVER, "SHARED_SCOPE": Scope.SHARED, "CLIENT_SCOPE": Scope.CLIENT}


class AdminApi:
    def __init__(self, hub):
        self.hub = hub

    async def _admin(self, request):
        return await principal(request, self.hub, *ADMINS)

    # -- auth --------------------------------------------------------------------

    @api_doc("Sign in: a JWT and a refresh token", tag="auth", auth=PUBLIC, body=LoginBody, response=TokenPair,
             errors=(400, 401, 413, 429))
    async def login(self, request):
        # Nobody is authenticated yet: the body is capped small (http.max_unauthenticated_body_bytes).
        body = await parse_body(request, LoginBody, limits(request).unauthenticated, empty={})
        return web.json_response(await self.hub.auth.login(body.username or "", body.password or ""))

    @api_doc("A new token pair for a refresh token", tag="auth", auth=PUBLIC, body=RefreshBody,
             response=TokenPair, errors=(400, 401, 413))
    async def refresh(self, request):
        body = await parse_body(request, RefreshBody, limits(request).unauthenticated, empty={})
        if not plausible_token(body.refreshToken):
            raise Unauthorized("Authentication failed")
        return web.json_response(await self.hub.auth.refresh(body.refreshToken))

    @api_doc("Who is signed in", tag="auth", auth=USER, response=CurrentUser)
    async def current_user(self, request):
        who = await principal(request, self.hub)
        return web.json_response({
            "id": {"entityType": "USER", "id": str(who.user_id)}, "email": who.email, "authority": who.authority,
            "tenantId": {"entityType": "TENANT", "id": str(who.tenant_id)} if who.tenant_id else None,
            "customerId": {"entityType": "CUSTOMER", "id": str(who.customer_id)} if who.customer_id else None,
        })

    # -- device profiles -----------------------------------------------------------

    @api_doc("Device profiles, a page", tag="device profiles", query=SearchPageQuery, response=PageData[ProfileOut])
    async def list_profiles(self, request):
        who = await self._admin(request)
        page, size = parse_paging(request.query.get("page"), request.query.get("pageSize"))
        result = await self.hub.profiles.page(who.tenant_id, page, size, request.query.get("textSearch"))
        return web.json_response(result.to_json(self.hub.profiles.to_json))

    @api_doc("A device profile", tag="device profiles", response=ProfileOut)
    async def get_profile(self, request):
        who = await self._admin(request)
        profile = await self.hub.profiles.get(who.tenant_id, request.match_info["id"])
        return web.json_response(self.hub.profiles.to_json(profile))

    @api_doc("Create (no id) or update a device profile", tag="device profiles", body=ProfileBody,
             response=ProfileOut)
    async def save_profile(self, request):
        who = await self._admin(request)
        body = await read_json(request, empty={})
        checked = validate(ProfileBody, body)
        args = self.hub.profiles.from_json(body)
        profile_id = checked.id.id if checked.id else None
        if profile_id:
            profile = await self.hub.profiles.get(who.tenant_id, profile_id)
            profile = await self.hub.profiles.update(profile, **args)
        else:
            if not (checked.name or "").strip():
                raise BadRequest("Device profile name should be specified!")
            tenant = await Tenant.get(id=who.tenant_id)
            args = {k: v for k, v in args.items() if v is not None}
            profile = await self.hub.profiles.create(tenant, **args)
        return web.json_response(self.hub.profiles.to_json(profile))

    @api_doc("Delete a device profile", tag="device profiles")
    async def delete_profile(self, request):
        who = await self._admin(request)
        profile = await self.hub.profiles.get(who.tenant_id, request.match_info["id"])
        await self.hub.profiles.delete(profile)
        return web.Response(status=200)

    # -- devices -----------------------------------------------------------------------

    @api_doc("Devices, a page (or one device by deviceName)", tag="devices", query=DeviceListQuery,
             response=PageData[DeviceOut] | DeviceOut)
    async def list_devices(self, request):
        who = await self._admin(request)
        q = parse_query(request, DeviceListQuery)
        if q.deviceName is not None:
            if len(q.deviceName) > NAME_MAX:  # longer than any stored name: cannot match
                raise NotFound(NOT_FOUND)
            device = await self.hub.devices.by_name(who.tenant_id, q.deviceName)
            return web.json_response(self.hub.devices.to_json(device))
        page, size = parse_paging(request.query.get("page"), request.query.get("pageSize"))
        result = await self.hub.devices.page(who.tenant_id, page, size, q.textSearch, profile_id=q.deviceProfileId)
        return web.json_response(result.to_json(self.hub.devices.to_json))

    @api_doc("A device", tag="devices", response=DeviceOut)
    async def get_device(self, request):
        who = await self._admin(request)
        device = await self.hub.devices.get(who.tenant_id, request.match_info["id"])
        return web.json_response(self.hub.devices.to_json(device))

    @api_doc("Create (no id) or update a device", tag="devices", body=DeviceBody, query=SaveDeviceQuery,
             response=DeviceOut)
    async def save_device(self, request):
        who = await self._admin(request)
        body = await parse_body(request, DeviceBody, empty={})
        token = parse_query(request, SaveDeviceQuery).accessToken
        device_id = body.id.id if body.id else None
        profile_ref = body.deviceProfileId.id if body.deviceProfileId else None
        tenant = await Tenant.get(id=who.tenant_id)
        if profile_ref:
            profile = await self.hub.profiles.get(who.tenant_id, profile_ref)
        elif body.type:
            profile = await DeviceProfile.get_or_none(tenant=tenant, name=body.type) \
                or await self.hub.profiles.create(tenant, body.type)
        else:
            profile = await DeviceProfile.filter(tenant=tenant, is_default=True).first()
            if profile is None:
                raise BadRequest("no deviceProfileId given and the tenant has no default profile")
        gateway = body.additionalInfo.gateway if body.additionalInfo else None
        if device_id:
            device = await self.hub.devices.get(who.tenant_id, device_id)
            if body.name and body.name.strip():
                device.name = body.name.strip()
            device.label = body.label or device.label
            device.profile = profile
            device.type = profile.name
            device.is_gateway = device.is_gateway if gateway is None else gateway
            await device.save()
        else:
            if body.name is None:
                raise BadRequest("device name is required")
            spec = None
            if token:
                try:
                    spec = await self.hub.credentials.spec_for_request(
                        ProvisionRequest(None, "", "", "ACCESS_TOKEN", {"token": token}))
                except ProvisionRefused as refused:
                    raise BadRequest(str(refused)) from None
            device = await self.hub.devices.create(tenant, profile, body.name, label=body.label or "",
                                                   is_gateway=bool(gateway), credentials=spec)
        return web.json_response(self.hub.devices.to_json(device))

    @api_doc("Delete a device", tag="devices")
    async def delete_device(self, request):
        who = await self._admin(request)
        device = await self.hub.devices.get(who.tenant_id, request.match_info["id"])
        await self.hub.devices.delete(device)
        return web.Response(status=200)

    @api_doc("A device's credentials", tag="devices", response=CredentialsOut | None)
    async def device_credentials(self, request):
        who = await self._admin(request)
        device = await self.hub.devices.get(who.tenant_id, request.match_info["id"])
        creds = await self.hub.credentials.for_device(device)
        if creds is None:
            return web.json_response(None)
        value = self.hub.credentials.response_value(creds)
        return web.json_response({
            "id": {"id": str(creds.id)}, "createdTime": creds.created_ms,
            "deviceId": {"entityType": "DEVICE", "id": str(device.id)},
            "credentialsType": creds.credentials_type,
            "credentialsId": creds.credentials_id if creds.credentials_type == "ACCESS_TOKEN" else None,
            "credentialsValue": json.dumps(value) if isinstance(value, dict) else (
                value if creds.credentials_type != "ACCESS_TOKEN" else None),
        })

    # -- attributes and telemetry --------------------------------------------------------

    def _scope(self, request) -> str:
        scope = _SCOPES.get(request.match_info["scope"])
        if scope is None:
            raise BadRequest("scope must be SERVER_SCOPE, SHARED_SCOPE or CLIENT_SCOPE")
        return scope

    @api_doc("Save server-side or shared attributes of a device", tag="attributes", body=AttributesBody)
    async def save_attributes(self, request):
        who = await self._admin(request)
        device = await self.hub.devices.get(who.tenant_id, request.match_info["id"])
        scope = self._scope(request)
        if scope == Scope.CLIENT:
            raise BadRequest("client-side attributes are written by the device")
        values = (await parse_body(request, AttributesBody, empty={})).root
        await self.hub.devices.set_attributes(device, scope, values, source=who.email)
        return web.Response(status=200)

    @api_doc("Delete attributes of a device", tag="attributes", query=DeleteKeysQuery)
    async def delete_attributes(self, request):
        who = await self._admin(request)
        device = await self.hub.devices.get(who.tenant_id, request.match_info["id"])
        keys = validate(DeleteKeysQuery, DeleteKeysQuery.from_query(request.query)).all_keys()
        await self.hub.devices.delete_attributes(device, self._scope(request), keys)
        return web.Response(status=200)

    @api_doc("A device's attributes", tag="attributes", query=KeysQuery, response=list[AttributeRow])
    async def get_attributes(self, request):
        who = await self._admin(request)
        device = await self.hub.devices.get(who.tenant_id, request.match_info["id"])
        keys = parse_query(request, KeysQuery).key_list() or None
        scopes = [self._scope(request)] if "scope" in request.match_info else list(_SCOPES.values())
        out = []
        for scope in scopes:
            for row in await self.hub.devices.get_attributes(device, scope, keys):
                out.append({"key": row.key, "value": row.value, "lastUpdateTs": row.last_update_ms})
        return web.json_response(out)

    @api_doc("A device's latest telemetry, or its history with startTs", tag="telemetry",
             query=TimeseriesQuery, response=Timeseries)
    async def get_timeseries(self, request):
        who = await self._admin(request)
        device = await self.hub.devices.get(who.tenant_id, request.match_info["id"])
        q = parse_query(request, TimeseriesQuery)
        keys = q.key_list() or None
        if q.startTs is not None:
            start, end, limit = q.startTs, q.endTs if q.endTs is not None else now_ms(), q.limit or 100
            if not keys:
                raise BadRequest("keys are required with startTs")
            return web.json_response(await self.hub.devices.timeseries(device, keys, start, end, limit))
        return web.json_response(await self.hub.devices.latest_telemetry(device, keys))

    # -- bulk import and audit ------------------------------------------------------------

    @api_doc("Create or update devices from CSV text", tag="devices", body=BulkImportBody,
             response=BulkImportResult)
    async def bulk_import(self, request):
        who = await self._admin(request)
        body = await read_json(request, limits(request).bulk, empty={})
        if not isinstance(body, dict) or not isinstance(body.get("file"), str):
            raise BadRequest("bulk import needs 'file' (the CSV text) and 'mapping'")
        validate(BulkImportBody, body)
        mapping = Mapping.from_json(body.get("mapping"))
        tenant = await Tenant.get(id=who.tenant_id)
        result = await self.hub.bulk_import.run(tenant, body["file"], mapping)
        return web.json_response(result.to_json())

    @api_doc("The audit log, newest first", tag="audit", query=AuditQuery, response=AuditPage)
    async def audit(self, request):
        who = await self._admin(request)
        page, size = parse_paging(request.query.get("page"), request.query.get("pageSize"))
        q = parse_query(request, AuditQuery)
        total, rows = await self.hub.audit.query(tenant_id=who.tenant_id, action=q.action or None,
                                                 outcome=q.outcome or None, device_id=q.deviceId or None,
                                                 since_ms=q.startTime, until_ms=q.endTime, limit=size,
                                                 offset=page * size)
        return web.json_response({"data": [audit_json(r) for r in rows], "totalElements": total,
                                  "totalPages": (total + size - 1) // size, "hasNext": (page + 1) * size < total})


@hookimpl
def register_web_routes(hub, app):
    api = AdminApi(hub)
    r = app.router
    r.add_post("/api/auth/login", api.login)
    r.add_post("/api/auth/token", api.refresh)
    r.add_get("/api/auth/user", api.current_user)
    session_api.add_routes(hub, app)  # sign-out and session revocation
    r.add_get("/api/deviceProfiles", api.list_profiles)
    r.add_post("/api/deviceProfile", api.save_profile)
    r.add_get("/api/deviceProfile/{id}", api.get_profile)
    r.add_delete("/api/deviceProfile/{id}", api.delete_profile)
    profile_secret_api.add_routes(hub, app)  # secret rotation, derived device secrets
    r.add_get("/api/tenant/devices", api.list_devices)
    r.add_post("/api/device", api.save_device)
    r.add_get("/api/device/{id}", api.get_device)
    r.add_delete("/api/device/{id}", api.delete_device)
    r.add_get("/api/device/{id}/credentials", api.device_credentials)
    r.add_post("/api/device/bulk_import", api.bulk_import)
    r.add_post("/api/plugins/telemetry/DEVICE/{id}/attributes/{scope}", api.save_attributes)
    r.add_post("/api/plugins/telemetry/DEVICE/{id}/{scope}", api.save_attributes)
    r.add_delete("/api/plugins/telemetry/DEVICE/{id}/{scope}", api.delete_attributes)
    # tb-rest-client's save_device_attributes / delete_device_attributes: the reference's
    # device-only form of the two routes above (the entity type is DEVICE).
    r.add_post("/api/plugins/telemetry/{id}/{scope}", api.save_attributes)
    r.add_delete("/api/plugins/telemetry/{id}/{scope}", api.delete_attributes)
    r.add_get("/api/plugins/telemetry/DEVICE/{id}/values/attributes", api.get_attributes)
    r.add_get("/api/plugins/telemetry/DEVICE/{id}/values/attributes/{scope}", api.get_attributes)
    r.add_get("/api/plugins/telemetry/DEVICE/{id}/values/timeseries", api.get_timeseries)
    r.add_get("/api/audit/logs", api.audit)
    openapi.add_routes(app)  # GET /api/openapi.json (every /api route, whichever plugin added it), /api/docs
