"""CoAP transport: the device API (provisioning, telemetry, attributes with observe)
over UDP with aiocoap."""

from __future__ import annotations

from gridlinks.core import hookimpl
from gridlinks.plugins.transport_coap.server import CoapSettings, CoapTransport


@hookimpl
def register_transports(hub, register):
    register(CoapTransport(hub, hub.config.section("coap", CoapSettings)))
