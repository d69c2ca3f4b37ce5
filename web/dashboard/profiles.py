"""Device profile pages: list, create, edit, delete, regenerate key and secret. All
rules (key uniqueness, derived X.509 keys, deletion refused while devices use the
profile) are :class:`ProfileService`'s; these views only translate forms."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from tortoise.functions import Count

from gridlinks.core.errors import HubError
from gridlinks.core.storage.models import Device, DeviceProfile, Tenant
from gridlinks.core.services.profiles import DISABLED
from gridlinks.core.services.tokens import random_alnum
from gridlinks.web.dashboard.render import checkbox, field, form, redirect, render, state, url
from gridlinks.web.dashboard.state import WHO

X509_CHAIN = "X509_CERTIFICATE_CHAIN"
# provisionConfiguration members this form edits; any others (a plugin's) are kept as they are.
FORM_CONFIG_KEYS = ("certificateRegExPattern", "allowCreateNewDevicesByX509Certificate", "dynamicRegistration")


async def profile_list(request: web.Request) -> web.Response:
    who = request[WHO]
    profiles = await DeviceProfile.filter(tenant_id=who.tenant_id).order_by("name")
    counts = dict(await Device.filter(tenant_id=who.tenant_id).annotate(n=Count("id"))
                  .group_by("profile_id").values_list("profile_id", "n"))
    return render(request, "profiles.html", profiles=profiles,
                  counts={str(k): v for k, v in counts.items()})


def _form_values(data) -> dict[str, Any]:
    ptype = field(data, "provision_type") or DISABLED
    config: dict[str, Any] = {}
    if ptype == X509_CHAIN:
        config["certificateRegExPattern"] = field(data, "regex") or "(.*)"
        config["allowCreateNewDevicesByX509Certificate"] = checkbox(data, "allow_create_x509")
        secret = str(data.get("certificate") or "").strip()
    else:
        secret = field(data, "secret")
    if checkbox(data, "dynamic_registration"):
        config["dynamicRegistration"] = True
    return {"name": field(data, "name"), "description": field(data, "description"), "provision_type": ptype,
            "key": field(data, "key") or None, "secret": secret or None, "config": config}


def _view(profile: DeviceProfile | None, values: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the form shows: the saved profile, or what was just submitted."""
    if values is not None:
        cfg = values["config"]
        return {"name": values["name"], "description": values["description"], "provision_type": values["provision_type"],
                "key": values["key"] or "", "secret": values["secret"] or "", "config": cfg}
    if profile is None:
        return {"name": "", "description": "", "provision_type": "ALLOW_CREATE_NEW_DEVICES", "key": "", "secret": "",
                "config": {}}
    return {"name": profile.name, "description": profile.description, "provision_type": profile.provision_type,
            "key": profile.provision_key or "", "secret": profile.provision_secret or "",
            "config": dict(profile.provision_config or {})}


def _form_page(request: web.Request, profile: DeviceProfile | None, values=None, error: str | None = None,
               status: int = 200) -> web.Response:
    strategies = state(request).hub.provision_strategies.names()
    return render(request, "profile_form.html", status=status, profile=profile, form=_view(profile, values),
                  strategies=strategies, error=error, x509_chain=X509_CHAIN)


async def profile_new(request: web.Request) -> web.Response:
    if request.method == "GET":
        return _form_page(request, None)
    who = request[WHO]
    values = _form_values(await form(request))
    hub = state(request).hub
    try:
        tenant = await Tenant.get(id=who.tenant_id)
        profile = await hub.profiles.create(tenant, **values)
    except HubError as exc:
        return _form_page(request, None, values, str(exc), 400)
    raise redirect(url(request, "profile", id=profile.id), f"Profile {profile.name} created.")


async def profile_edit(request: web.Request) -> web.Response:
    who = request[WHO]
    hub = state(request).hub
    profile = await hub.profiles.get(who.tenant_id, request.match_info["id"])
    if request.method == "GET":
        return _form_page(request, profile)
    values = _form_values(await form(request))
    kept = {k: v for k, v in (profile.provision_config or {}).items() if k not in FORM_CONFIG_KEYS}
    try:
        await hub.profiles.update(profile, name=values["name"], provision_type=values["provision_type"],
                                  key=values["key"], secret=values["secret"], config={**kept, **values["config"]},
                                  description=values["description"])
    except HubError as exc:
        profile = await hub.profiles.get(who.tenant_id, profile.id)
        return _form_page(request, profile, values, str(exc), 400)
    raise redirect(url(request, "profile", id=profile.id), "Profile saved.")


async def profile_regenerate(request: web.Request) -> web.Response:
    who = request[WHO]
    hub = state(request).hub
    profile = await hub.profiles.get(who.tenant_id, request.match_info["id"])
    if profile.provision_type == X509_CHAIN:
        raise redirect(url(request, "profile", id=profile.id),
                       "An X.509 chain profile's key is its certificate's hash; upload another certificate instead.",
                       "error")
    await hub.profiles.update(profile, key=random_alnum(), secret=random_alnum())
    raise redirect(url(request, "profile", id=profile.id),
                   "New provision key and secret generated. Devices using the old ones can no longer provision.")


async def profile_delete(request: web.Request) -> web.Response:
    who = request[WHO]
    hub = state(request).hub
    profile = await hub.profiles.get(who.tenant_id, request.match_info["id"])
    try:
        await hub.profiles.delete(profile)
    except HubError as exc:
        raise redirect(url(request, "profile", id=profile.id), str(exc), "error") from None
    raise redirect(url(request, "profiles"), f"Profile {profile.name} deleted.")
