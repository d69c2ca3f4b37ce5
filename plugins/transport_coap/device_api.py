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

from gridlinks.plugins.transport_coap.observe import AttributeObservers
from gridlinks.plugins.transport_coap.routes import JSON, CoapCall, Router, empty_response, json_response
from gridlinks.plugins.transport_coap.site import TRANSPORT


class DeviceRoutes:
    """The CoAP codec of :class:`gridlinks.core.services.device_api.DeviceApi`: the
    request in, one service call, the response out (errors: :mod:`.errors`). The site
    has authenticated the token before a handler runs (:mod:`.routes`)."""

    def __init__(self, hub):
        self.hub = hub
        self.api = hub.device_api

    async def provision(self, call: CoapCall) -> Message:
        body = await self.hub.provisioning.provision(call.json(), TRANSPORT)
        return json_response(body, Code.CREATED if body.get("status") == "SUCCESS" else Code.BAD_REQUEST)

    async def telemetry(self, call: CoapCall) -> Message:
        await self.api.post_telemetry(call.device, call.request.payload)
        return empty_response(Code.CREATED)

    async def post_attributes(self, call: CoapCall) -> Message:
        await self.api.post_attributes(call.device, call.request.payload)
        return empty_response(Code.CREATED)

    async def get_attributes(self, call: CoapCall) -> Message:
        if call.observing:
            return json_response(await self.api.shared_attributes(call.device))
        return json_response(await self.api.read_attributes(
            call.device, call.query("clientKeys"), call.query("sharedKeys")))

    async def claim(self, call: CoapCall) -> Message:
        """Claim info (SPEC.md section 2); a refusal is its 4.xx with the reason as diagnostic payload."""
        await self.api.post_claim(call.device, call.request.payload, TRANSPORT)
        return empty_response(Code.CREATED)


def add_device_routes(hub, router: Router, observers: AttributeObservers) -> None:
    api = DeviceRoutes(hub)
    router.add("POST", "/api/v1/provision", api.provision, produces=JSON)
    router.add("POST", "/api/v1/{token}/telemetry", api.telemetry)
    router.add("POST", "/api/v1/{token}/attributes", api.post_attributes)
    router.add("GET", "/api/v1/{token}/attributes", api.get_attributes, observe=observers.add, produces=JSON)
    router.add("POST", "/api/v1/{token}/claim", api.claim)
