"""The device API: what a device may do, once, whatever transport carried it.

HTTP, CoAP and MQTT are codecs around this service: each reads its wire format, makes
ONE call here with the raw payload bytes, and writes the answer (or maps the raised
:mod:`gridlinks.core.errors` exception to its protocol's codes in its one error
module). Decoding, key lists, scopes, the payload limit and the answers' shapes live
here and in :mod:`gridlinks.core.services.device_payloads`, so the three transports
cannot drift apart (they once wrote the client scope two different ways).

Provisioning is not here: it has its own service and entry points per transport.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from gridlinks.core.errors import BadRequest, PayloadTooLarge
from gridlinks.core.services.device_payloads import decode_json, decode_optional_json, key_list, parse_telemetry
from gridlinks.core.storage.models import Scope
from gridlinks.core.types import ClaimInfo, PresentedCredentials

if TYPE_CHECKING:
    from gridlinks.core.config import HubSettings
    from gridlinks.core.services.claiming import ClaimService
    from gridlinks.core.services.credentials import CredentialService
    from gridlinks.core.services.devices import DeviceService
    from gridlinks.core.storage.models import Device

# The event ``source`` of attributes a device set itself.
DEVICE_SOURCE = "device"


class DeviceApi:
    """One method per device operation; each takes the raw payload bytes."""

    def __init__(self, devices: DeviceService, claiming: ClaimService, credentials: CredentialService,
                 settings: HubSettings):
        self.devices = devices
        self.claiming = claiming
        self.credentials = credentials
        self.settings = settings  # read per call: max_payload_bytes

    # -- who is asking ------------------------------------------------------------------

    async def authenticate(self, transport: str, token: str) -> Device | None:
        """The device an access token (in the URL path, or the MQTT user name) belongs
        to; None for an unknown token, which each transport answers in its own terms."""
        return await self.credentials.authenticate(PresentedCredentials(transport, token=token))

    # -- what it sends -----------------------------------------------------------------

    def post_telemetry(self, device: Device, raw: bytes) -> asyncio.Future:
        """Checked at once (BadRequest on a bad payload), then queued: the returned future
        resolves when the rows are committed. HTTP and CoAP await it before answering;
        MQTT holds the PUBACK until it resolves while reading the session's next publishes."""
        return self.devices.queue_telemetry(device, parse_telemetry(self._decode(raw)))

    async def post_attributes(self, device: Device, raw: bytes) -> None:
        """The device's own (client-scope) attributes, committed when this returns."""
        await self.devices.set_attributes(device, Scope.CLIENT, self._decode(raw), source=DEVICE_SOURCE)

    async def read_attributes(self, device: Device, client_keys: Any, shared_keys: Any) -> dict[str, dict[str, Any]]:
        """The reference's device-side attribute read: ``{"client": {...}, "shared": {...}}``.
        Keys come as the device named them (``"a,b"`` or a list, None when absent); no
        keys named in either means all of both scopes; a scope with nothing is left out."""
        client, shared = key_list(client_keys, "clientKeys"), key_list(shared_keys, "sharedKeys")
        wanted = [("client", Scope.CLIENT, client), ("shared", Scope.SHARED, shared)]
        if client is None and shared is None:
            wanted = [("client", Scope.CLIENT, []), ("shared", Scope.SHARED, [])]
        out: dict[str, dict[str, Any]] = {}
        for label, scope, keys in wanted:
            if keys is None:
                continue
            rows = await self.devices.get_attributes(device, scope, keys or None)
            if rows:
                out[label] = {r.key: r.value for r in rows}
        return out

    async def attribute_request(self, device: Device, raw: bytes) -> dict[str, dict[str, Any]]:
        """An attribute read sent as a body (MQTT): ``{"clientKeys": "a,b", "sharedKeys": "c"}``,
        both optional, a blank body meaning all."""
        body = self._decode(raw, optional=True)
        if not isinstance(body, dict):
            raise BadRequest("attribute request must be a JSON object")
        return await self.read_attributes(device, body.get("clientKeys"), body.get("sharedKeys"))

    async def shared_attributes(self, device: Device) -> dict[str, Any]:
        """All shared attributes as ``{key: value}``: the shape a subscribed device is sent."""
        return {r.key: r.value for r in await self.devices.get_attributes(device, Scope.SHARED)}

    async def post_claim(self, device: Device, raw: bytes, transport: str) -> ClaimInfo:
        """Claim info (SPEC.md section 2); a blank body is ``{}``. Refusals raise."""
        return await self.claiming.register(device, self._decode(raw, optional=True), transport)

    async def gateway_claim(self, gateway: Device, raw: bytes, transport: str) -> dict[str, dict[str, Any]]:
        """``{"Device A": {claim info}, ...}`` from a gateway: per device, how it went."""
        return await self.claiming.register_for_gateway(gateway, self._decode(raw), transport)

    def session_limits(self, max_inflight: int) -> dict[str, Any]:
        """The answer to the client-side RPC ``getSessionLimits``."""
        return {"maxPayloadSize": self.settings.max_payload_bytes, "maxInflightMessages": max_inflight,
                "rateLimits": {}}

    # -- ours --------------------------------------------------------------------------

    def _decode(self, raw: bytes, optional: bool = False) -> Any:
        """The payload as JSON, within the limit. Every transport refuses an oversized
        payload earlier, at its edge, before buffering it; this holds the rule for any
        caller that does not."""
        limit = self.settings.max_payload_bytes
        if len(raw) > limit:
            raise PayloadTooLarge(f"payload is larger than {limit} bytes")
        return decode_optional_json(raw) if optional else decode_json(raw)
