"""DNS-SD adverts with python-zeroconf: one service per listener that is enabled.

| service | port | TXT |
| --- | --- | --- |
| ``_http._tcp`` | ``http.port`` | ``path=/ui/`` (dashboard), ``api``, ``provision``, ``tls_port`` |
| ``_mqtt._tcp`` | ``mqtt.port`` | ``provision_topic``, ``provision_user`` |
| ``_secure-mqtt._tcp`` | ``mqtt.tls_port`` | the same |
| ``_coap._udp`` | ``coap.port`` | ``provision`` (the CoAP path) |

Every record also carries ``version`` (the hub's) and ``product=gridlinks``, so a device
can tell a GridLinks hub from another HTTP server on the LAN. The instance name is
``discovery.name`` (default "GridLinks Hub on HOST"); zeroconf renames it
("... (2)") if another hub on the LAN holds the name.

Registration (mDNS probing takes about a second and a half) runs in the background: the
hub's start never waits for it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from typing import Any

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from gridlinks.core.errors import ConfigError
from gridlinks.core.version import hub_version
from gridlinks.plugins.discovery.settings import DiscoverySettings

log = logging.getLogger(__name__)

DASHBOARD_PATH = "/ui/"
PROVISION_PATH = "/api/v1/provision"
PROVISION_TOPIC = "/provision/request"
PROVISION_USER = "provision"


class LanAdvertiser:
    """A "transport" with no socket of its own: mDNS adverts for the others."""

    name = "discovery"

    def __init__(self, hub: Any, settings: DiscoverySettings):
        self.hub = hub
        self.settings = settings
        self.services: list[AsyncServiceInfo] = []
        self._zeroconf: AsyncZeroconf | None = None
        self._task: asyncio.Task | None = None

    # -- what is advertised ---------------------------------------------------------------

    def address(self) -> str | None:
        """The one address to advertise, or None for all of this machine's."""
        address = self.settings.interface
        if address is None and self.hub.settings.bind not in ("0.0.0.0", "", "::"):
            address = self.hub.settings.bind
        return address

    def service_infos(self) -> list[AsyncServiceInfo]:
        host = socket.gethostname().split(".")[0] or "gridlinks"
        instance = self.settings.name or f"GridLinks Hub on {host}"
        address = self.address()
        addresses = {"parsed_addresses": [address]} if address else {}
        base = {"version": hub_version(), "product": "gridlinks"}
        server = f"{host}.local."
        found: list[tuple[str, int, dict[str, str]]] = []
        transports = self.hub.transports
        http = transports.get("http")
        if http is not None:
            txt = {**base, "path": DASHBOARD_PATH, "api": "/api/v1", "provision": PROVISION_PATH}
            if getattr(http, "tls_port", None):
                txt["tls_port"] = str(http.tls_port)
            found.append(("_http._tcp.local.", http.settings.port, txt))
        mqtt = transports.get("mqtt")
        if mqtt is not None:
            txt = {**base, "provision_topic": PROVISION_TOPIC, "provision_user": PROVISION_USER}
            found.append(("_mqtt._tcp.local.", mqtt.settings.port, txt))
            if mqtt.settings.tls_port:
                found.append(("_secure-mqtt._tcp.local.", mqtt.settings.tls_port, txt))
        coap = transports.get("coap")
        if coap is not None and coap.settings.port:
            found.append(("_coap._udp.local.", coap.settings.port, {**base, "provision": PROVISION_PATH}))
        return [AsyncServiceInfo(kind, f"{instance}.{kind}", port=port, properties=txt, server=server, **addresses)
                for kind, port, txt in found]

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        address = self.address()
        if address is not None:
            try:
                ipaddress.IPv4Address(address)
            except ValueError:
                raise ConfigError(f"discovery.interface must be an IPv4 address, not {address!r}") from None
        self.services = self.service_infos()
        self._zeroconf = AsyncZeroconf(interfaces=[address] if address else None, ip_version=IPVersion.V4Only)
        self._task = self.hub.create_task(self._register(), name="gridlinks-discovery")

    async def _register(self) -> None:
        assert self._zeroconf is not None
        # async_register_service returns once the probe is under way; the task it gives
        # ends when the name is announced. All probes run at once (about 1.5 s in all).
        announced = []
        for info in self.services:
            try:
                announced.append((info, await self._zeroconf.async_register_service(info, allow_name_change=True)))
            except Exception as exc:  # the LAN refusing multicast must not stop the hub
                log.warning("discovery: cannot advertise %s: %s", info.type, exc)
        outcomes = await asyncio.gather(*(task for _, task in announced), return_exceptions=True)
        for (info, _), outcome in zip(announced, outcomes):
            if isinstance(outcome, Exception):
                log.warning("discovery: cannot advertise %s: %s", info.type, outcome)
        log.info("discovery: advertising %s", ", ".join(f"{i.type[:-7]} port {i.port}" for i in self.services))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._zeroconf is not None:
            try:
                await asyncio.wait_for(self._zeroconf.async_unregister_all_services(), 3)
            except Exception as exc:
                log.debug("discovery: goodbye not sent: %s", exc)
            await self._zeroconf.async_close()
            self._zeroconf = None
