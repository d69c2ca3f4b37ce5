"""The CoAP server: an aiocoap server context on ``coap.port`` (UDP), bound to the
hub's ``bind`` address.

Only aiocoap's ``udp6`` transport is started: its defaults would also open CoAP over
TCP, TLS and WebSockets on the same port, which the hub does not offer. udp6 sets
SO_REUSEPORT, so a second hub on the same port would bind "successfully" and take half
the traffic; a probe bind without that flag first turns a port in use into the hub's
one-line start-up error instead.
"""

from __future__ import annotations

import logging
import socket

from aiocoap import Context

from gridlinks.core.config import Settings
from gridlinks.plugins.transport_coap.datagrams import DatagramGate
from gridlinks.plugins.transport_coap.device_api import add_device_routes
from gridlinks.plugins.transport_coap.observe import AttributeObservers
from gridlinks.plugins.transport_coap.routes import Router
from gridlinks.plugins.transport_coap.site import DeviceSite

log = logging.getLogger(__name__)


class CoapSettings(Settings):
    port: int = 5683
    # Observations of GET /api/v1/{token}/attributes one device may hold at once.
    max_observers_per_device: int = 8


def _probe_bind(host: str, port: int) -> None:
    """Raise OSError if anything, reuse-port socket or not, holds host:port/udp."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.bind((host, port))


class CoapTransport:
    name = "coap"

    def __init__(self, hub, settings: CoapSettings):
        self.hub = hub
        self.settings = settings
        self.router = Router()
        self.observers = AttributeObservers(hub, settings.max_observers_per_device)
        add_device_routes(hub, self.router, self.observers)
        self._context: Context | None = None

    async def start(self) -> None:
        bind = self.hub.settings.bind
        port = self.settings.port
        try:
            if port:
                _probe_bind(bind, port)
            self._context = await Context.create_server_context(
                DeviceSite(self.hub, self.router), bind=(bind, port), transports=["udp6"],
                loggername="gridlinks.coap.aiocoap")
        except OSError as exc:
            raise self.hub.bind_error(port, "coap.port", "GRIDLINKS_COAP_PORT", exc) from None
        DatagramGate.install(self._context)
        self.observers.start()
        log.info("CoAP listening on coap://%s:%d (device API)", bind, port)

    async def stop(self) -> None:
        await self.observers.stop()
        if self._context is not None:
            await self._context.shutdown()
            self._context = None
