"""Device profile pages: list, create, edit, delete, regenerate key and secret. All
rules (key uniqueness, derived X.509 keys, deletion refused while devices use the
profile) are :class:`ProfileService`'s; these views only translate forms. Which
settings the form shows comes from the strategies' and plugins' settings models
(``profile_settings_form``), never from keys written here."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from tortoise.functions import Count

from gridlinks.core.errors import HubError
from gridlinks.core.services.profiles import DISABLED
from gridlinks.core.services.provision_policy import SECRET_ROTATION, parse_duration_ms
from gridlinks.core.services.tokens import random_alnum
from gridlinks.core.storage.models import Device, DeviceProfile, Tenant
from gridlinks.web.dashboard.profile_settings_form import ProfileSettingsForm
from gridlinks.web.dashboard.render import field, form, redirect, render, state, url
from gridlinks.web.dashboard.state import WHO


async def profile_list(request: web.Request) -> web.Response:
    who = request[WHO]
    profiles = await DeviceProfile.filter(tenant_id=who.tenant_id).order_by("name")
    counts = dict(await Device.filter(tenant_id=who.tenant_id).annotate(n=Count("id"))
                  .group_by("profile_id").values_list("profile_id", "n"))
    return render(request, "profiles.html", profiles=profiles,
                  counts={str(k): v for k, v in counts.items()})


def _form_values(settings: ProfileSettingsForm, data) -> dict[str, Any]:
    ptype = field(data, "provision_type") or DISABLED
    columns, config = settings.read(data, ptype)
    return {"name": field(data, "name"), "description": field(data, "description"), "provision_type": ptype,
            "key": columns.get("key"), "secret": columns.get("secret"), "config": config}


def _key_is_derived(request: web.Request, provision_type: str) -> bool:
    """A strategy that derives the key (X.509 chain: its certificate's hash) has no secret to show or regenerate."""
    return hasattr(state(request).hub.provision_strategies.get(provision_type), "derive_key")


def _view(profile: DeviceProfile | None, values: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the form shows: the saved profile, or what was just submitted."""
    if values is not None:
        cfg = values["config"]
        return {"name": values["name"], "description": values["description"],
                "provision_type": values["provision_type"], "key": values["key"] or "",
                "secret": values["secret"] or "", "config": cfg}
    if profile is None:
        return {"name": "", "description": "", "provision_type": "ALLOW_CREATE_NEW_DEVICES", "key": "", "secret": "",
                "config": {}}
    return {"name": profile.name, "description": profile.description, "provision_type": profile.provision_type,
            "key": profile.provision_key or "", "secret": profile.provision_secret or "",
            "config": dict(profile.provision_config or {})}


def _form_page(request: web.Request, profile: DeviceProfile | None, values=None, error: str | None = None,
               status: int = 200) -> web.Response:
    hub = state(request).hub
    settings = ProfileSettingsForm(hub)
    return render(request, "profile_form.html", status=status, profile=profile, form=_view(profile, values),
                  strategies=hub.provision_strategies.names(), error=error, settings=settings,
                  labels=settings.labels(profile),
                  rotation=(profile.provision_config or {}).get(SECRET_ROTATION) if profile else None,
                  derived_key=profile is not None and _key_is_derived(request, profile.provision_type))


async def profile_new(request: web.Request) -> web.Response:
    if request.method == "GET":
        return _form_page(request, None)
    who = request[WHO]
    hub = state(request).hub
    values = _form_values(ProfileSettingsForm(hub), await form(request))
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
    settings = ProfileSettingsForm(hub)
    values = _form_values(settings, await form(request))
    kept = {k: v for k, v in (profile.provision_config or {}).items() if k not in settings.config_keys()}
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
    if _key_is_derived(request, profile.provision_type):
        raise redirect(url(request, "profile", id=profile.id),
                       "This profile's key is derived from its settings (an X.509 chain profile's is its "
                       "certificate's hash); change them instead.", "error")
    await hub.profiles.update(profile, key=random_alnum(), secret=random_alnum())
    raise redirect(url(request, "profile", id=profile.id),
                   "New provision key and secret generated. Devices using the old ones can no longer provision.")


async def profile_rotate(request: web.Request) -> web.Response:
    """Start a secret rotation (the old secret keeps working, until ``expire_old_after``
    if given) or finish one (``finish``)."""
    who = request[WHO]
    hub = state(request).hub
    profile = await hub.profiles.get(who.tenant_id, request.match_info["id"])
    data = await form(request)
    finish = bool(field(data, "finish"))
    try:
        after = field(data, "expire_old_after")
        await hub.profiles.rotate_secret(profile, finish=finish, expire_after_ms=parse_duration_ms(after) if after
                                         else None, actor=who.email)
    except HubError as exc:
        raise redirect(url(request, "profile", id=profile.id), str(exc), "error") from None
    raise redirect(url(request, "profile", id=profile.id),
                   "Rotation finished: only the current secret provisions." if finish else
                   "New secret generated; the previous one keeps working until the rotation is finished.")


async def profile_delete(request: web.Request) -> web.Response:
    who = request[WHO]
    hub = state(request).hub
    profile = await hub.profiles.get(who.tenant_id, request.match_info["id"])
    try:
        await hub.profiles.delete(profile)
    except HubError as exc:
        raise redirect(url(request, "profile", id=profile.id), str(exc), "error") from None
    raise redirect(url(request, "profiles"), f"Profile {profile.name} deleted.")
