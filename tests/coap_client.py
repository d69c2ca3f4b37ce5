"""A CoAP client for tests (aiocoap, real UDP on 127.0.0.1): requests with JSON bodies,
provisioning a device, and the port a hub's CoAP listener took."""

from __future__ import annotations

import asyncio
import json

from aiocoap import Code, Context, Message

from gridlinks.core.hub import Hub
from gridlinks.plugins.transport_coap.server import CoapSettings

TIMEOUT = 10


class CoapClient:
    def __init__(self, context: Context, port: int):
        self.context = context
        self.base = f"coap://127.0.0.1:{port}"

    def message(self, code: Code, path: str, payload=b"", **options) -> Message:
        if not isinstance(payload, bytes):
            payload = json.dumps(payload).encode()
        return Message(code=code, uri=self.base + path, payload=payload, **options)

    async def request(self, code: Code, path: str, payload=b"", **options) -> Message:
        request = self.context.request(self.message(code, path, payload, **options))
        return await asyncio.wait_for(request.response, TIMEOUT)

    async def post(self, path: str, payload=b"", **options) -> Message:
        return await self.request(Code.POST, path, payload, **options)

    async def get(self, path: str, **options) -> Message:
        return await self.request(Code.GET, path, **options)

    async def provision(self, running, **body) -> Message:
        return await self.post("/api/v1/provision", {"provisionDeviceKey": running.key,
                                                      "provisionDeviceSecret": running.secret, **body})

    async def device(self, running, name: str) -> str:
        response = await self.provision(running, deviceName=name)
        assert response.code == Code.CREATED, response
        return json.loads(response.payload)["credentialsValue"]


def coap_port(hub: Hub) -> int:
    return hub.config.section("coap", CoapSettings).port
