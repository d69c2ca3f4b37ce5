"""Device pages for tenant admins: the list (search, filters, keyset pages), adding a
pre-provisioned device, the device page (credentials, attributes by scope, latest
telemetry, claim state, audit trail) and the attribute editor."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from gridlinks.core.errors import BadRequest, HubError
from gridlinks.core.services.device_payloads import decode_json
from gridlinks.core.storage.models import Customer, Device, DeviceProfile, Scope, Tenant
from gridlinks.core.types import ProvisionRequest
from gridlinks.web.dashboard.claim_state import claim_state
from gridlinks.web.dashboard.device_list import Cursor, DeviceFilter, device_page
from gridlinks.web.dashboard.history import telemetry_history
from gridlinks.web.dashboard.render import field, form, redirect, render, state, url
from gridlinks.web.dashboard.state import WHO
from gridlinks.web.dashboard.stats import claimed_at

EDITABLE_SCOPES = (Scope.SERVER, Scope.SHARED)
SCOPE_TITLES = {Scope.SERVER: "Server attributes", Scope.SHARED: "Shared attributes",
                Scope.CLIENT: "Client attributes"}


def _uuid_or_none(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError:
        return None


def _tristate(raw: str | None) -> bool | None:
    return {"yes": True, "no": False}.get(raw or "")


def parse_filter(query) -> DeviceFilter:
    return DeviceFilter(text=(query.get("q") or "").strip()[:255], profile_id=_uuid_or_none(query.get("profile")),
                        customer_id=_uuid_or_none(query.get("customer")),
                        provisioned=_tristate(query.get("provisioned")), claimed=_tristate(query.get("claimed")))


async def device_list(request: web.Request) -> web.Response:
    who = request[WHO]
    st = state(request)
    q = request.query
    flt = parse_filter(q)
    page = await device_page(who.tenant_id, flt, st.settings.page_size, after=Cursor.decode(q.get("after")),
                             before=Cursor.decode(q.get("before")), count_cap=st.settings.count_cap)
    profiles = await DeviceProfile.filter(tenant_id=who.tenant_id).order_by("name").values("id", "name")
    customers = await Customer.filter(tenant_id=who.tenant_id).order_by("title").limit(500).values("id", "title")
    names = {str(p["id"]): p["name"] for p in profiles}
    filters = {k: q.get(k, "") for k in ("q", "profile", "customer", "provisioned", "claimed")}
    return render(request, "devices.html", page=page, profiles=profiles, customers=customers, profile_names=names,
                  filters=filters, filtered=flt.active())


async def _profile_choices(tenant_id) -> list[DeviceProfile]:
    return list(await DeviceProfile.filter(tenant_id=tenant_id).order_by("name"))


async def device_new(request: web.Request) -> web.Response:
    who = request[WHO]
    hub = state(request).hub
    profiles = await _profile_choices(who.tenant_id)
    values = {"name": "", "label": "", "profile": request.query.get("profile", ""), "token": ""}
    if request.method == "GET":
        return render(request, "device_new.html", profiles=profiles, form=values, error=None)
    data = await form(request)
    values = {k: field(data, k) for k in values}
    try:
        profile = await hub.profiles.get(who.tenant_id, values["profile"])
        spec = None
        if values["token"]:
            spec = await hub.credentials.spec_for_request(
                ProvisionRequest(None, "", "", "ACCESS_TOKEN", {"token": values["token"]}))
        tenant = await Tenant.get(id=who.tenant_id)
        device = await hub.devices.create(tenant, profile, values["name"], label=values["label"], credentials=spec)
    except HubError as exc:
        return render(request, "device_new.html", status=400, profiles=profiles, form=values, error=str(exc))
    raise redirect(url(request, "device", id=device.id),
                   f"Device {device.name} added. It can provision once with its profile's key and secret.")


async def device_page_view(request: web.Request) -> web.Response:
    who = request[WHO]
    hub = state(request).hub
    device = await hub.devices.get(who.tenant_id, request.match_info["id"])
    profile = await DeviceProfile.get(id=device.profile_id)
    customer = await Customer.get_or_none(id=device.customer_id) if device.customer_id else None
    creds = await hub.credentials.for_device(device)
    attributes = {scope: await hub.devices.get_attributes(device, scope) for scope in Scope.ALL}
    latest = await hub.devices.latest_telemetry(device)
    history = await telemetry_history(device, latest)
    _, trail = await hub.audit.query(tenant_id=who.tenant_id, device_id=device.id, limit=25)
    claim = await claim_state(request, device)
    claimed = (await claimed_at(who.tenant_id, [device.id])).get(str(device.id)) if device.customer_id else None
    customers = await Customer.filter(tenant_id=who.tenant_id).order_by("title").limit(500)
    return render(request, "device.html", device=device, profile=profile, customer=customer, creds=creds,
                  attributes=attributes,
                  scope_titles=SCOPE_TITLES, editable=EDITABLE_SCOPES, latest=latest, trail=trail, claim=claim,
                  customers=customers, claimed_ms=claimed, history=history)


def parse_value(text: str) -> Any:
    """What a person typed: JSON when it parses (numbers, true, objects), else the text
    itself (also for JSON the hub refuses: too deep, NaN, lone surrogates)."""
    try:
        return decode_json(text, "value")
    except BadRequest:
        return text


async def _device(request: web.Request) -> Device:
    return await state(request).hub.devices.get(request[WHO].tenant_id, request.match_info["id"])


async def _attribute_form(request: web.Request) -> tuple[Device, str, str, Any]:
    """The device and the (scope, key, form) of an attribute edit; only the scopes people own."""
    device = await _device(request)
    data = await form(request)
    scope, key = field(data, "scope"), field(data, "key")
    if scope not in EDITABLE_SCOPES:
        raise BadRequest("Only server and shared attributes can be changed here; "
                         "client attributes come from the device.")
    if not key:
        raise redirect(_attributes_url(request, device), "An attribute needs a key.", "error")
    return device, scope, key, data


def _attributes_url(request: web.Request, device: Device) -> str:
    return url(request, "device", id=device.id) + "#attributes"


async def attribute_save(request: web.Request) -> web.Response:
    device, scope, key, data = await _attribute_form(request)
    await state(request).hub.devices.set_attributes(device, scope, {key: parse_value(field(data, "value"))},
                                                    source=request[WHO].email)
    raise redirect(_attributes_url(request, device), f"Attribute {key} saved.")


async def attribute_delete(request: web.Request) -> web.Response:
    device, scope, key, _ = await _attribute_form(request)
    await state(request).hub.devices.delete_attributes(device, scope, [key])
    raise redirect(_attributes_url(request, device), f"Attribute {key} deleted.")


async def device_delete(request: web.Request) -> web.Response:
    device = await _device(request)
    await state(request).hub.devices.delete(device)
    raise redirect(url(request, "devices"), f"Device {device.name} deleted.")
