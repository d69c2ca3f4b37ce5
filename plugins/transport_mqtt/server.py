"""The hub's own MQTT server: the two listeners (plain ``mqtt.port``, TLS
``mqtt.tls_port`` through ``tls.py``), the set of open connections, and the one timer that enforces
connect timeouts, keep-alive (1.5x) and acknowledgement timeouts for all of them.

Why one sweep and not a timer per connection: a held session then costs no timer
handle and no re-arming per packet (each packet only stores the time it arrived); the
sweep walks the connections once a second, which stays cheap at tens of thousands.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from gridlinks.plugins.transport_mqtt.protocol import MqttProtocol
from gridlinks.plugins.transport_mqtt.tls import TlsLayer

if TYPE_CHECKING:
    from OpenSSL import SSL

    from gridlinks.plugins.transport_mqtt.gate import MqttGate
    from gridlinks.plugins.transport_mqtt.settings import MqttSettings

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 1.0
ACK_TIMEOUT_S = 10.0  # a QoS 1 message the hub sent must be acknowledged by then
STOP_TIMEOUT_S = 5.0


class MqttServer:
    def __init__(self, gate: MqttGate, settings: MqttSettings, bind: str,
                 ssl_context: Callable[[], SSL.Context]):
        self.gate = gate
        self.settings = settings
        self.bind = bind
        self.ssl_context = ssl_context  # asked per connection: the trust store may have been rebuilt
        self.loop = asyncio.get_running_loop()
        self.connections: set[MqttProtocol] = set()
        self.workers: set[asyncio.Task] = set()
        self.sessions = 0  # connections past CONNACK (what mqtt.max_connections counts)
        self._servers: list[asyncio.AbstractServer] = []
        self._sweeper: asyncio.Task | None = None

    async def start(self) -> None:
        """Raises OSError (with ``.port`` set) when a port cannot be bound."""
        s = self.settings
        try:
            ctx, timeout = self.ssl_context, s.tls_handshake_timeout_s
            for port, factory in ((s.port, lambda: MqttProtocol(self)),
                                  (s.tls_port, lambda: TlsLayer(ctx(), MqttProtocol(self), timeout))):
                try:
                    server = await self.loop.create_server(factory, self.bind, port, reuse_address=True,
                                                           backlog=4096)
                except OSError as exc:
                    exc.port = port
                    raise
                self._servers.append(server)
        except BaseException:
            await self.stop()
            raise
        self._sweeper = self.loop.create_task(self._sweep(), name="mqtt-keep-alive")

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        for proto in list(self.connections):
            proto.shutdown()
        if self.workers:  # publishes being handled finish (or are cut off after the timeout)
            done, pending = await asyncio.wait(list(self.workers), timeout=STOP_TIMEOUT_S)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        for server in self._servers:
            try:
                await asyncio.wait_for(server.wait_closed(), STOP_TIMEOUT_S)
            except TimeoutError:
                log.warning("MQTT: connections still open after %s s at shutdown", STOP_TIMEOUT_S)
        self._servers.clear()

    # -- called by connections -----------------------------------------------------------

    def opened(self, proto: MqttProtocol) -> None:
        self.connections.add(proto)

    def lost(self, proto: MqttProtocol) -> None:
        self.connections.discard(proto)
        if proto.conn is not None:
            self.sessions -= 1

    # -- timeouts ---------------------------------------------------------------------------

    async def _sweep(self) -> None:
        connect_timeout = self.settings.connect_timeout_s
        while True:
            await asyncio.sleep(min(SWEEP_INTERVAL_S, connect_timeout / 2))
            now = self.loop.time()
            try:
                for proto in list(self.connections):
                    if proto.closing:
                        continue
                    if proto.conn is None:
                        if not proto.connecting and now - proto.opened > connect_timeout:
                            proto.timed_out(f"no CONNECT within {connect_timeout} s")
                    elif proto.keep_alive_s and not proto.paused and now - proto.last_read > proto.keep_alive_s:
                        proto.timed_out(f"silent for {now - proto.last_read:.1f} s (keep alive "
                                        f"{proto.keep_alive_s / 1.5:g} s)")
                    elif proto.out_ids and now - next(iter(proto.out_ids.values())) > ACK_TIMEOUT_S:
                        proto.timed_out(f"no acknowledgement within {ACK_TIMEOUT_S:g} s")
            except Exception:  # never let the one timer die
                log.exception("MQTT: keep-alive sweep failed")
