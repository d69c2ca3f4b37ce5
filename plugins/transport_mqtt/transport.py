"""The MQTT transport: wires the server certificate, the TLS trust (asked of the
``register_tls_trust`` providers), the hub's gate and the MQTT server together, and
starts and stops them."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import TYPE_CHECKING

from gridlinks.core.tls import ensure_server_certificate, server_certificate_files
from gridlinks.plugins.transport_mqtt.gate import MqttGate
from gridlinks.plugins.transport_mqtt.server import MqttServer
from gridlinks.plugins.transport_mqtt.settings import MqttSettings
from gridlinks.plugins.transport_mqtt.tls import server_context
from gridlinks.plugins.transport_mqtt.trust import TrustedContexts

if TYPE_CHECKING:
    from gridlinks.core.hub import Hub

log = logging.getLogger(__name__)

_PORT_SETTINGS = {"port": ("mqtt.port", "GRIDLINKS_MQTT_PORT"), "tls_port": ("mqtt.tls_port", "GRIDLINKS_MQTTS_PORT")}


class MqttTransport:
    name = "mqtt"

    def __init__(self, hub: Hub, settings: MqttSettings):
        self.hub = hub
        self.settings = settings
        self.gate: MqttGate | None = None
        self.trust: TrustedContexts | None = None
        self.server: MqttServer | None = None

    @property
    def cert_file(self):
        return server_certificate_files(self.hub.settings.data_dir, self.settings.cert_file)[0]

    @property
    def key_file(self):
        return server_certificate_files(self.hub.settings.data_dir, None, self.settings.key_file)[1]

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, ensure_server_certificate, self.cert_file, self.key_file)
        providers: list = []
        self.hub.pm.hook.register_tls_trust(hub=self.hub, register=providers.append)
        trust = self.trust = TrustedContexts(functools.partial(server_context, self.cert_file, self.key_file),
                                             providers)
        try:
            await trust.start()
        except BaseException:
            await self.stop()
            raise
        self.gate = MqttGate(self.hub, self.settings)
        self.gate.attach()
        s = self.settings
        self.server = MqttServer(self.gate, s, self.hub.settings.bind, lambda: trust.context)
        try:
            await self.server.start()
        except OSError as exc:
            self.server = None
            await self.stop()
            port = getattr(exc, "port", s.port)
            setting, env = _PORT_SETTINGS["tls_port" if port == s.tls_port else "port"]
            raise self.hub.bind_error(port, setting, env, exc) from None
        log.info("MQTT 3.1.1 and 5 listening on %s:%d, with TLS on %d (server certificate %s)",
                 self.hub.settings.bind, s.port, s.tls_port, self.cert_file)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None
        if self.gate is not None:
            self.gate.detach()
        if self.trust is not None:
            self.trust.stop()
        self.gate = self.trust = None
