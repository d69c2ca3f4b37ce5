"""The device-facing CoAP API (SPEC.md sections 1 and 2), on the HTTP API's paths.

Codes are the reference's: provisioning answers 2.01 on SUCCESS and 4.00 otherwise,
both with the JSON body; posts answer 2.01 with no body; reads answer 2.05 with JSON;
an unknown token gets 4.01 and a body that is not JSON 4.00 (see :mod:`.site`).
A GET on attributes with Observe 0 also subscribes the device to shared-attribute
changes (:mod:`.observe`); its first answer is the current shared attributes in the
notification shape ``{"key": value}``, as the reference sends.
"""

from __future__ import annotations

from aiocoap import Code, Message

from gridlinks.core.storage.models import Scope
from gridlinks.plugins.transport_coap.observe import AttributeObservers
from gridlinks.plugins.transport_coap.routes import JSON, CoapCall, Router, empty_response, json_response
from gridlinks.plugins.transport_coap.site import TRANSPORT


def _keys(value: str | None) -> list[str] | None:
    return None if value is None else [k for k in (s.strip() for s in value.split(",")) if k]


class DeviceApi:
    def __init__(self, hub):
        self.hub = hub

    async def provision(self, call: CoapCall) -> Message:
        body = await self.hub.provisioning.provision(call.json(), TRANSPORT)
        return json_response(body, Code.CREATED if body.get("status") == "SUCCESS" else Code.BAD_REQUEST)

    async def telemetry(self, call: CoapCall) -> Message:
        await self.hub.devices.save_telemetry(call.device, call.json())
        return empty_response(Code.CREATED)

    async def post_attributes(self, call: CoapCall) -> Message:
        await self.hub.devices.set_attributes(call.device, Scope.CLIENT, call.json(), source="device")
        return empty_response(Code.CREATED)

    async def get_attributes(self, call: CoapCall) -> Message:
        if call.observing:
            rows = await self.hub.devices.get_attributes(call.device, Scope.SHARED)
            return json_response({r.key: r.value for r in rows})
        return json_response(await self.hub.devices.device_attributes(
            call.device, _keys(call.query("clientKeys")), _keys(call.query("sharedKeys"))))

    async def claim(self, call: CoapCall) -> Message:
        """Claim info (SPEC.md section 2); a refusal is its 4.xx with the reason as diagnostic payload."""
        await self.hub.claiming.register(call.device, call.json() if call.request.payload.strip() else {}, TRANSPORT)
        return empty_response(Code.CREATED)


def add_device_routes(hub, router: Router, observers: AttributeObservers) -> None:
    api = DeviceApi(hub)
    router.add("POST", "/api/v1/provision", api.provision, produces=JSON)
    router.add("POST", "/api/v1/{token}/telemetry", api.telemetry)
    router.add("POST", "/api/v1/{token}/attributes", api.post_attributes)
    router.add("GET", "/api/v1/{token}/attributes", api.get_attributes, observe=observers.add, produces=JSON)
    router.add("POST", "/api/v1/{token}/claim", api.claim)
