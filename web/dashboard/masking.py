"""Secrets the pages never print: the values of attribute and telemetry keys that name a
secret, members such as ``claimingData.secretKey`` inside JSON values (objects or JSON
text), the profile's provision secret, the claim secret and a device's credentials.

A masked secret is placed in the page only as dots; its "Reveal" and "Copy" buttons ask
:func:`reveal` for the value (a POST with the page's CSRF token, audited as
``secret_revealed``), so a page's HTML (a saved copy, a screenshot of the source, a
proxy's cache) holds no secret unless someone asked to see it."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from gridlinks.core.errors import BadRequest, NotFound
from gridlinks.core.services.device_payloads import decode_json
from gridlinks.core.storage.models import Scope
from gridlinks.web.dashboard.claim_state import claim_secret
from gridlinks.web.dashboard.events import SecretRevealed
from gridlinks.web.dashboard.render import pretty_json, state
from gridlinks.web.dashboard.state import WHO
from gridlinks.web.dashboard.stats import CLAIMING_DATA

MASK = "••••••••"
# Key names that hold a secret, in any case: secretKey, password, accessToken, private_key...
SECRET_NAME = re.compile(r"secret|passw(or)?d|token|private[_-]?key|credential", re.IGNORECASE)
MAX_DEPTH = 32


def is_secret_name(name: object) -> bool:
    return isinstance(name, str) and SECRET_NAME.search(name) is not None


def redact(value: Any, depth: int = 0) -> Any:
    """``value`` with every member whose name is a secret's replaced by the mask; JSON
    text (``claimingData`` as the reference stores it) is read, redacted and written back."""
    if depth > MAX_DEPTH:
        return MASK
    if isinstance(value, dict):
        return {k: MASK if is_secret_name(k) else redact(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, depth + 1) for v in value]
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            parsed = decode_json(value, "value")
        except BadRequest:
            return value
        cleaned = redact(parsed, depth + 1)
        return value if cleaned == parsed else json.dumps(cleaned, ensure_ascii=False)
    return value


def shown(value: Any, key: str) -> str:
    """An attribute's or a telemetry key's value as a page shows it (a Jinja filter)."""
    if is_secret_name(key):
        return MASK
    return pretty_json(redact(value))


def _credentials_text(value: Any) -> str:
    if value is None:
        return ""
    return json.dumps(value, indent=1) if isinstance(value, dict) else str(value)


async def _device(request: web.Request):
    return await state(request).hub.devices.get(request[WHO].tenant_id, request.match_info["id"])


async def reveal(request: web.Request) -> web.Response:
    """``POST /ui/reveal/{kind}/{id}`` (tenant admins, CSRF header): ``{"value": ...}``."""
    hub = state(request).hub
    who = request[WHO]
    kind = request.match_info["kind"]
    event: dict[str, Any] = {"tenant_id": str(who.tenant_id), "actor": who.email}
    if kind == "profile-secret":
        profile = await hub.profiles.get(who.tenant_id, request.match_info["id"])
        value, event["profile"], event["secret"] = profile.provision_secret or "", profile.name, "profile secret"
    elif kind in ("claim-secret", "credentials"):
        device = await _device(request)
        event.update(device_id=str(device.id), device_name=device.name)
        if kind == "claim-secret":
            data = await hub.devices.attribute_value(device, Scope.SERVER, CLAIMING_DATA)
            value, event["secret"] = claim_secret(data) or "", "claim secret"
        else:
            creds = await hub.credentials.for_device(device)
            value = _credentials_text(hub.credentials.response_value(creds) if creds else None)
            event["secret"] = "device credentials"
    else:
        raise NotFound("There is no such secret.")
    await hub.bus.fire(SecretRevealed(**event, outcome="SUCCESS"))
    return web.json_response({"value": value}, headers={"Cache-Control": "no-store"})
