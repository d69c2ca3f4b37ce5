"""A device's claim state as the device page shows it, and the claim link / QR code a
tenant admin prints for it. The QR code carries the link to the claim page with the
device name and secret in the URL fragment: browsers never send a fragment to the
server, so the secret stays out of access logs and Referer headers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import segno
from aiohttp import web
from markupsafe import Markup

from gridlinks.core.errors import BadRequest
from gridlinks.core.services.device_payloads import decode_json
from gridlinks.core.storage.models import Device, Scope, now_ms
from gridlinks.web.dashboard.render import state
from gridlinks.web.dashboard.stats import CLAIMING_DATA, claim_expiration

CLAIMING_ALLOWED = "claimingAllowed"


def claim_secret(data: Any) -> str | None:
    """``claimingData``'s secretKey, the attribute as an object or as its JSON text."""
    if isinstance(data, str):
        try:
            data = decode_json(data, CLAIMING_DATA)
        except BadRequest:
            return None
    secret = data.get("secretKey") if isinstance(data, dict) else None
    if isinstance(secret, (int, float)) and not isinstance(secret, bool):
        return str(secret)
    return secret if isinstance(secret, str) and secret else None


@dataclass
class ClaimState:
    enabled: bool
    assigned: bool
    allowed: Any
    secret: str | None           # the server-side secret (claimingData), which the admin set
    expires_ms: int | None
    source: str | None           # which strategy holds the pending claim
    pending: bool
    link: str
    qr: Markup | None


def claim_link(request: web.Request, device_name: str, secret: str | None) -> str:
    base = state(request).settings.public_url or f"{request.scheme}://{request.host}"
    fragment = f"device={quote(device_name, safe='')}"
    if secret:
        fragment += f"&secret={quote(secret, safe='')}"
    return f"{base.rstrip('/')}/ui/claim#{fragment}"


def qr_svg(link: str) -> Markup:
    svg = segno.make(link, error="m").svg_inline(scale=4, border=2, omitsize=True, dark="#111827",
                                                 title="Claim QR code")
    return Markup(svg)


async def claim_state(request: web.Request, device: Device) -> ClaimState:
    hub = state(request).hub
    claiming = getattr(hub, "claiming", None)
    data = await hub.devices.attribute_value(device, Scope.SERVER, CLAIMING_DATA)
    allowed = await hub.devices.attribute_value(device, Scope.SERVER, CLAIMING_ALLOWED)
    secret = claim_secret(data)
    info = await claiming.pending(device) if claiming is not None and claiming.strategies else None
    expires = info.expiration_ms if info else (claim_expiration(data) if data is not None else None)
    pending = bool(info) and info.expiration_ms > now_ms() and device.customer_id is None
    link = claim_link(request, device.name, secret if pending else None)
    return ClaimState(enabled=claiming is not None, assigned=device.customer_id is not None, allowed=allowed,
                      secret=secret, expires_ms=expires, source=info.source if info else None, pending=pending,
                      link=link, qr=qr_svg(link) if pending else None)
