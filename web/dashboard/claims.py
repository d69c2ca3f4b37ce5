"""Claiming in the dashboard. Tenant admins set server-side claim data (a generated
secret and an expiry) and print its QR code, or take a device back (re-claim).
Customer users get the claim widget (the seeds' "claim device" widget: device name and
secret, the secret field optional, messages configurable) and their device list with
re-claim. Every decision is :class:`gridlinks.core.services.claiming.ClaimService`'s."""

from __future__ import annotations

from aiohttp import web

from gridlinks.core.errors import BadRequest, NotFound, TooManyAttempts
from gridlinks.core.services.claiming import CLAIMED, SUCCESS
from gridlinks.core.services.tokens import random_alnum
from gridlinks.core.storage.models import Customer, Device, DeviceProfile, Scope, now_ms
from gridlinks.web.dashboard.claim_state import claim_link, claim_secret, qr_svg
from gridlinks.web.dashboard.device_list import Cursor, DeviceFilter, device_page
from gridlinks.web.dashboard.events import TRANSPORT, ClaimDataChanged
from gridlinks.web.dashboard.history import telemetry_history
from gridlinks.web.dashboard.render import field, form, redirect, render, state, url
from gridlinks.web.dashboard.state import WHO
from gridlinks.web.dashboard.stats import CLAIMING_DATA, claimed_at

MAX_VALID_HOURS = 24 * 365


async def _tenant_device(request: web.Request) -> Device:
    return await state(request).hub.devices.get(request[WHO].tenant_id,
                                                request.match_info["id"])


def _who(request: web.Request):
    return request[WHO]


def _valid_hours(text: str) -> float:
    try:
        hours = float(text or 24)
    except ValueError:
        raise BadRequest("Valid for must be a number of hours.") from None
    if not 0 < hours <= MAX_VALID_HOURS:  # NaN fails this too
        raise BadRequest(f"Valid for must be between 0 and {MAX_VALID_HOURS} hours.")
    return hours


async def _audited_claim_change(request: web.Request, device: Device, change: str, **fields) -> None:
    """The claim-data change's audit row, with who made it (``claim_data_changed``)."""
    who = _who(request)
    await state(request).hub.bus.fire(ClaimDataChanged(
        tenant_id=str(device.tenant_id), device_id=str(device.id), device_name=device.name, actor=who.email,
        change=change, **fields))


async def claim_data_save(request: web.Request) -> web.Response:
    device = await _tenant_device(request)
    data = await form(request)
    typed = field(data, "secret")
    try:
        hours = _valid_hours(field(data, "valid_hours"))
    except BadRequest as exc:
        await _audited_claim_change(request, device, "set", outcome="FAILURE", reason=str(exc))
        raise
    expires = now_ms() + int(hours * 3_600_000)
    value = {"secretKey": typed or random_alnum(12), "expirationTime": expires}
    await state(request).hub.devices.set_attributes(device, Scope.SERVER, {CLAIMING_DATA: value},
                                                    source=_who(request).email)
    await _audited_claim_change(request, device, "set", outcome=SUCCESS, expiration_ms=expires,
                                generated=not typed)
    raise redirect(url(request, "device", id=device.id) + "#claiming",
                   "Claim data saved. Print the QR code or hand over the secret.")


async def claim_data_clear(request: web.Request) -> web.Response:
    device = await _tenant_device(request)
    await state(request).hub.devices.delete_attributes(device, Scope.SERVER, [CLAIMING_DATA],
                                                       source=_who(request).email)
    await _audited_claim_change(request, device, "removed", outcome=SUCCESS)
    raise redirect(url(request, "device", id=device.id) + "#claiming", "Claim data removed.")


async def tenant_reclaim(request: web.Request) -> web.Response:
    device = await _tenant_device(request)
    await state(request).hub.claiming.reclaim(_who(request), device.name, TRANSPORT)
    raise redirect(url(request, "device", id=device.id) + "#claiming",
                   f"{device.name} is no longer assigned to a customer.")


async def claim_print(request: web.Request) -> web.Response:
    """A page with just the QR card, for printing or a label printer."""
    device = await _tenant_device(request)
    value = await state(request).hub.devices.attribute_value(device, Scope.SERVER, CLAIMING_DATA)
    secret = claim_secret(value)
    link = claim_link(request, device.name, secret)
    return render(request, "claim_print.html", device=device, secret=secret, link=link, qr=qr_svg(link))


# -- customer users ------------------------------------------------------------------------

def _widget(request: web.Request, status: int = 200, message: str | None = None, level: str = "ok",
            device_name: str = "") -> web.Response:
    return render(request, "claim.html", status=status, widget=state(request).settings.claim_widget,
                  message=message, level=level, device_name=device_name)


async def claim_widget(request: web.Request) -> web.Response:
    if request.method == "GET":
        return _widget(request, device_name=request.query.get("device", ""))
    st = state(request)
    texts = st.settings.claim_widget
    data = await form(request)
    name = field(data, "device")
    secret = field(data, "secret") if texts.show_secret else ""
    if not name:
        return _widget(request, 400, "Device name is required", "error")
    try:
        result = await st.hub.claiming.claim(_who(request), name, secret, TRANSPORT)
    except NotFound:
        return _widget(request, 404, texts.not_found_message, "error", name)
    except TooManyAttempts:
        return _widget(request, 429, texts.locked_message, "error", name)
    if result.response == SUCCESS:
        raise redirect(url(request, "my_device", id=result.device.id), texts.success_message)
    if result.response == CLAIMED:
        return _widget(request, 400, texts.claimed_message, "error", name)
    return _widget(request, 400, texts.failure_message, "error", name)


async def my_devices(request: web.Request) -> web.Response:
    who = _who(request)
    st = state(request)
    q = request.query
    flt = DeviceFilter(text=(q.get("q") or "").strip()[:255], customer_id=who.customer_id)
    page = await device_page(who.tenant_id, flt, st.settings.page_size, after=Cursor.decode(q.get("after")),
                             before=Cursor.decode(q.get("before")), count_cap=st.settings.count_cap)
    customer = await Customer.get(id=who.customer_id)
    claimed = await claimed_at(who.tenant_id, [row["id"] for row in page.rows])
    return render(request, "my_devices.html", page=page, customer=customer, filters={"q": q.get("q", "")},
                  claimed=claimed)


async def _my_device(request: web.Request) -> Device:
    """A device of the caller's own customer; any other is "not found", not "forbidden",
    so a customer cannot even learn which ids exist."""
    who = _who(request)
    device = await state(request).hub.devices.get(who.tenant_id, request.match_info["id"])
    if device.customer_id != who.customer_id:
        raise NotFound("Requested item wasn't found!")
    return device


async def my_device(request: web.Request) -> web.Response:
    device = await _my_device(request)
    hub = state(request).hub
    profile = await DeviceProfile.get(id=device.profile_id)
    attributes = {scope: await hub.devices.get_attributes(device, scope) for scope in (Scope.CLIENT, Scope.SHARED)}
    latest = await hub.devices.latest_telemetry(device)
    return render(request, "my_device.html", device=device, profile=profile, attributes=attributes,
                  latest=latest, history=await telemetry_history(device, latest))


async def my_device_reclaim(request: web.Request) -> web.Response:
    device = await _my_device(request)
    await state(request).hub.claiming.reclaim(_who(request), device.name, TRANSPORT)
    raise redirect(url(request, "my_devices"), f"{device.name} was released; it can be claimed again.")
