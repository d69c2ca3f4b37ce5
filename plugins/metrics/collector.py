"""The hub's metrics, on a registry of its own (docs/metrics.md lists every family)."""

from __future__ import annotations

import platform
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.core import GaugeMetricFamily

from gridlinks.core.events import (
    BulkImportFinished,
    DeviceAuthFailed,
    DeviceClaimed,
    DeviceCreated,
    DeviceDeleted,
    DeviceProvisioned,
    DeviceRequestRejected,
    ProvisionFailed,
)
from gridlinks.core.storage.models import Device
from gridlinks.core.version import hub_version
from gridlinks.plugins.metrics.settings import MetricsSettings

# Group commit: units per transaction (1 on PostgreSQL: one transaction per unit) and
# seconds per commit, from a single-row commit on a fast disk to a stalled database.
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class SessionCollector:
    """Open sessions per transport, read from the transports when scraped: MQTT sessions
    past CONNACK, CoAP observations, HTTP connections."""

    def __init__(self, hub: Any):
        self.hub = hub

    def collect(self):
        family = GaugeMetricFamily("gridlinks_open_sessions", "Device sessions open now, per transport",
                                   labels=["transport"])
        transports = self.hub.transports
        mqtt, coap, http = transports.get("mqtt"), transports.get("coap"), transports.get("http")
        if mqtt is not None:
            server = getattr(mqtt, "server", None)
            family.add_metric(["MQTT"], getattr(server, "sessions", 0) if server is not None else 0)
        if coap is not None:
            family.add_metric(["COAP"], coap.observers.count())
        if http is not None:
            family.add_metric(["HTTP"], http.open_connections)
        yield family


class HubMetrics:
    """Counters fed by the bus and the storage's commit observers; gauges read at scrape."""

    def __init__(self, hub: Any, settings: MetricsSettings):
        self.hub = hub
        self.settings = settings
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.provisions = Counter("gridlinks_provisions", "Provisioning requests, by transport and outcome",
                                  ["transport", "outcome"], registry=r)
        self.claims = Counter("gridlinks_claims", "Customer claim attempts, by outcome", ["outcome"], registry=r)
        self.auth_failures = Counter("gridlinks_device_auth_failures",
                                     "Device requests and logins refused for unknown credentials, by transport",
                                     ["transport"], registry=r)
        self.rejected = Counter("gridlinks_device_requests_rejected",
                                "Device requests refused for their body (not JSON, too large), by transport",
                                ["transport", "status"], registry=r)
        self.batch_size = Histogram("gridlinks_commit_batch_units", "Units committed per group-commit transaction",
                                    buckets=BATCH_BUCKETS, registry=r)
        self.commit_seconds = Histogram("gridlinks_commit_seconds", "Seconds per group-commit transaction",
                                        buckets=LATENCY_BUCKETS, registry=r)
        self.devices = Gauge("gridlinks_devices", "Devices stored", registry=r)
        Info("gridlinks_build", "The hub's version", registry=r).info(
            {"version": hub_version(), "python": platform.python_version()})
        r.register(SessionCollector(hub))
        self._devices_at = float("-inf")
        self._unlisten: list[Any] = []
        self.attach()

    def attach(self) -> None:
        if self._unlisten:
            return
        bus = self.hub.bus
        self._unlisten = [bus.listen(DeviceProvisioned, self._provision), bus.listen(ProvisionFailed, self._provision),
                          bus.listen(DeviceClaimed, self._claim), bus.listen(DeviceAuthFailed, self._auth_failed),
                          bus.listen(DeviceRequestRejected, self._rejected)]
        self._unlisten += [bus.listen(cls, self._devices_changed)
                           for cls in (DeviceProvisioned, DeviceCreated, DeviceDeleted, BulkImportFinished)]
        self.hub.storage.commit_observers.append(self._committed)

    # -- feeds (synchronous, called on the event loop: a counter increment each) -------------
    # Events relayed from another node (``remote``, cluster_redis) are that node's to count:
    # each node's /metrics counts what it served, and Prometheus sums the nodes.

    def _provision(self, event: DeviceProvisioned | ProvisionFailed) -> None:
        if not event.remote:
            self.provisions.labels(event.transport, event.outcome).inc()

    def _devices_changed(self, event: object) -> None:
        self._devices_at = float("-inf")  # counted again at the next scrape

    def _claim(self, event: DeviceClaimed) -> None:
        if not event.remote:
            self.claims.labels(event.outcome).inc()

    def _auth_failed(self, event: DeviceAuthFailed) -> None:
        if not event.remote:
            self.auth_failures.labels(event.transport).inc()

    def _rejected(self, event: DeviceRequestRejected) -> None:
        if not event.remote:
            self.rejected.labels(event.transport, event.status).inc()

    def _committed(self, units: int, seconds: float) -> None:
        self.batch_size.observe(units)
        self.commit_seconds.observe(seconds)

    # -- scrape ------------------------------------------------------------------------------

    async def render(self) -> bytes:
        """The text exposition; the device count is refreshed first if it is stale."""
        now = time.monotonic()
        if now - self._devices_at >= self.settings.device_count_cache_s:
            self.devices.set(await Device.all().count())
            self._devices_at = now
        return generate_latest(self.registry)
