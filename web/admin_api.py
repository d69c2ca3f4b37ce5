"""The admin REST API, reference-shaped so existing REST clients work:
login and token refresh, device profiles, devices, attributes, telemetry reads,
bulk import and the audit log. Tenant admins manage their tenant; nothing here reaches
across tenants."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from gridlinks.core import hookimpl
from gridlinks.core.audit import audit_json
from gridlinks.core.bulk_import import Mapping
from gridlinks.core.devices import decode_json
from gridlinks.core.errors import BadRequest
from gridlinks.core.models import Authority, DeviceProfile, Scope, Tenant, now_ms
from gridlinks.core.paging import parse_paging
from gridlinks.web import session_api
from gridlinks.web.rest_auth import principal

ADMINS = (Authority.TENANT_ADMIN, Authority.SYS_ADMIN)
_SCOPES = {"SERVER_SCOPE": Scope.SERVER, "SHARED_SCOPE": Scope.SHARED, "CLIENT_SCOPE": Scope.CLIENT}


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return {}
    return decode_json(raw, "request body")


class AdminApi:
    def __init__(self, hub):
        self.hub = hub

    async def _admin(self, request):
        return await principal(request, self.hub, *ADMINS)

    # -- auth --------------------------------------------------------------------

    async def login(self, request):
        body = await _body(request)
        if not isinstance(body, dict):
            raise BadRequest("login body must be a JSON object")
        return web.json_response(await self.hub.auth.login(str(body.get("username") or ""),
                                                           str(body.get("password") or "")))

    async def refresh(self, request):
        body = await _body(request)
        token = body.get("refreshToken") if isinstance(body, dict) else None
        if not isinstance(token, str):
            raise BadRequest("refreshToken is required")
        return web.json_response(await self.hub.auth.refresh(token))

    async def current_user(self, request):
        who = await principal(request, self.hub)
        return web.json_response({
            "id": {"entityType": "USER", "id": str(who.user_id)}, "email": who.email, "authority": who.authority,
            "tenantId": {"entityType": "TENANT", "id": str(who.tenant_id)} if who.tenant_id else None,
            "customerId": {"entityType": "CUSTOMER", "id": str(who.customer_id)} if who.customer_id else None,
        })

    # -- device profiles -----------------------------------------------------------

    async def list_profiles(self, request):
        who = await self._admin(request)
        page, size = parse_paging(request.query.get("page"), request.query.get("pageSize"))
        result = await self.hub.profiles.page(who.tenant_id, page, size, request.query.get("textSearch"))
        return web.json_response(result.to_json(self.hub.profiles.to_json))

    async def get_profile(self, request):
        who = await self._admin(request)
        profile = await self.hub.profiles.get(who.tenant_id, request.match_info["id"])
        return web.json_response(self.hub.profiles.to_json(profile))

    async def save_profile(self, request):
        who = await self._admin(request)
        body = await _body(request)
        args = self.hub.profiles.from_json(body)
        profile_id = ((body.get("id") or {}).get("id") if isinstance(body.get("id"), dict) else None)
        if profile_id:
            profile = await self.hub.profiles.get(who.tenant_id, profile_id)
            profile = await self.hub.profiles.update(profile, **args)
        else:
            tenant = await Tenant.get(id=who.tenant_id)
            args = {k: v for k, v in args.items() if v is not None}
            profile = await self.hub.profiles.create(tenant, **args)
        return web.json_response(self.hub.profiles.to_json(profile))

    async def delete_profile(self, request):
        who = await self._admin(request)
        profile = await self.hub.profiles.get(who.tenant_id, request.match_info["id"])
        await self.hub.profiles.delete(profile)
        return web.Response(status=200)

    # -- devices -----------------------------------------------------------------------

    async def list_devices(self, request):
        who = await self._admin(request)
        q = request.query
        if "deviceName" in q:
            device = await self.hub.devices.by_name(who.tenant_id, q["deviceName"])
            return web.json_response(self.hub.devices.to_json(device))
        page, size = parse_paging(q.get("page"), q.get("pageSize"))
        result = await self.hub.devices.page(who.tenant_id, page, size, q.get("textSearch"),
                                             profile_id=q.get("deviceProfileId"))
        return web.json_response(result.to_json(self.hub.devices.to_json))

    async def get_device(self, request):
        who = await self._admin(request)
        device = await self.hub.devices.get(who.tenant_id, request.match_info["id"])
        return web.json_response(self.hub.devices.to_json(device))

    async def save_device(self, request):
        who = await self._admin(request)
        body = await _body(request)
        if not isinstance(body, dict):
            raise BadRequest("device must be a JSON object")
        device_id = (body.get("id") or {}).get("id") if isinstance(body.get("id"), dict) else None
        profile_ref = (body.get("deviceProfileId") or {}).get("id") if isinstance(body.get("deviceProfileId"), dict) else None
        tenant = await Tenant.get(id=who.tenant_id)
        if profile_ref:
            profile = await self.hub.profiles.get(who.tenant_id, profile_ref)
        elif body.get("type"):
            profile = await DeviceProfile.get_or_none(tenant=tenant, name=body["type"]) \
                or await self.hub.profiles.create(tenant, str(body["type"]))
        else:
            profile = await DeviceProfile.filter(tenant=tenant, is_default=True).first()
            if profile is None:
                raise BadRequest("no deviceProfileId given and the tenant has no default profile")
        info = body.get("additionalInfo") if isinstance(body.get("additionalInfo"), dict) else {}
        if device_id:
            device = await self.hub.devices.get(who.tenant_id, device_id)
            if isinstance(body.get("name"), str) and body["name"].strip():
                device.name = body["name"].strip()
            device.label = str(body.get("label") or device.label)
            device.profile = profile
            device.type = profile.name
            device.is_gateway = bool(info.get("gateway", device.is_gateway))
            await device.save()
        else:
            if not isinstance(body.get("name"), str):
                raise BadRequest("device name is required")
            token = request.query.get("accessToken")
            spec = None
            if token:
                from gridlinks.core.types import ProvisionRequest

                spec = await self.hub.credentials.spec_for_request(
                    ProvisionRequest(None, "", "", "ACCESS_TOKEN", {"token": token}))
            device = await self.hub.devices.create(tenant, profile, body["name"], label=str(body.get("label") or ""),
                                                   is_gateway=bool(info.get("gateway")), credentials=spec)
        return web.json_response(self.hub.devices.to_json(device))

    async def delete_device(self, request):
        who = await self._admin(request)
        device = await self.hub.devices.get(who.tenant_id, request.match_info["id"])
        await self.hub.devices.delete(device)
        return web.Response(status=200)

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

    async def save_attributes(self, request):
        who = await self._admin(request)
        device = await self.hub.devices.get(who.tenant_id, request.match_info["id"])
        scope = self._scope(request)
        if scope == Scope.CLIENT:
            raise BadRequest("client-side attributes are written by the device")
        await self.hub.devices.set_attributes(device, scope, await _body(request), source=who.email)
        return web.Response(status=200)

    async def delete_attributes(self, request):
        who = await self._admin(request)
        device = await self.hub.devices.get(who.tenant_id, request.match_info["id"])
        keys = [k for k in request.query.get("keys", "").split(",") if k]
        await self.hub.devices.delete_attributes(device, self._scope(request), keys)
        return web.Response(status=200)

    async def get_attributes(self, request):
        who = await self._admin(request)
        device = await self.hub.devices.get(who.tenant_id, request.match_info["id"])
        keys = [k for k in request.query.get("keys", "").split(",") if k] or None
        scopes = [self._scope(request)] if "scope" in request.match_info else list(_SCOPES.values())
        out = []
        for scope in scopes:
            for row in await self.hub.devices.get_attributes(device, scope, keys):
                out.append({"key": row.key, "value": row.value, "lastUpdateTs": row.last_update_ms})
        return web.json_response(out)

    async def get_timeseries(self, request):
        who = await self._admin(request)
        device = await self.hub.devices.get(who.tenant_id, request.match_info["id"])
        keys = [k for k in request.query.get("keys", "").split(",") if k] or None
        if "startTs" in request.query:
            try:
                start, end = int(request.query["startTs"]), int(request.query.get("endTs") or now_ms())
                limit = int(request.query.get("limit") or 100)
            except ValueError:
                raise BadRequest("startTs, endTs and limit must be whole numbers") from None
            if not keys:
                raise BadRequest("keys are required with startTs")
            return web.json_response(await self.hub.devices.timeseries(device, keys, start, end, limit))
        return web.json_response(await self.hub.devices.latest_telemetry(device, keys))

    # -- bulk import and audit ------------------------------------------------------------

    async def bulk_import(self, request):
        who = await self._admin(request)
        body = await _body(request)
        if not isinstance(body, dict) or not isinstance(body.get("file"), str):
            raise BadRequest("bulk import needs 'file' (the CSV text) and 'mapping'")
        mapping = Mapping.from_json(body.get("mapping"))
        tenant = await Tenant.get(id=who.tenant_id)
        result = await self.hub.bulk_import.run(tenant, body["file"], mapping)
        return web.json_response(result.to_json())

    async def audit(self, request):
        who = await self._admin(request)
        q = request.query
        page, size = parse_paging(q.get("page"), q.get("pageSize"))
        try:
            since = int(q["startTime"]) if q.get("startTime") else None
            until = int(q["endTime"]) if q.get("endTime") else None
        except ValueError:
            raise BadRequest("startTime and endTime must be epoch milliseconds") from None
        total, rows = await self.hub.audit.query(tenant_id=who.tenant_id, action=q.get("action"),
                                                 outcome=q.get("outcome"), device_id=q.get("deviceId"),
                                                 since_ms=since, until_ms=until, limit=size, offset=page * size)
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
    r.add_get("/api/tenant/devices", api.list_devices)
    r.add_post("/api/device", api.save_device)
    r.add_get("/api/device/{id}", api.get_device)
    r.add_delete("/api/device/{id}", api.delete_device)
    r.add_get("/api/device/{id}/credentials", api.device_credentials)
    r.add_post("/api/device/bulk_import", api.bulk_import)
    r.add_post("/api/plugins/telemetry/DEVICE/{id}/attributes/{scope}", api.save_attributes)
    r.add_post("/api/plugins/telemetry/DEVICE/{id}/{scope}", api.save_attributes)
    r.add_delete("/api/plugins/telemetry/DEVICE/{id}/{scope}", api.delete_attributes)
    r.add_get("/api/plugins/telemetry/DEVICE/{id}/values/attributes", api.get_attributes)
    r.add_get("/api/plugins/telemetry/DEVICE/{id}/values/attributes/{scope}", api.get_attributes)
    r.add_get("/api/plugins/telemetry/DEVICE/{id}/values/timeseries", api.get_timeseries)
    r.add_get("/api/audit/logs", api.audit)
