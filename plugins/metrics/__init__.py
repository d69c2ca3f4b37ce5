"""``GET /metrics`` in the Prometheus text format (docs/metrics.md).

Counters follow the bus (provisions, claims, device auth failures), the group-commit
histograms follow the storage's commit observers, gauges (open sessions, devices
stored) are read at scrape time. One ``CollectorRegistry`` per hub, never the
process-global one: several hubs may run in one process (the tests).
"""

from __future__ import annotations

from gridlinks.core import hookimpl
from gridlinks.plugins.metrics.collector import HubMetrics, MetricsSettings
from gridlinks.plugins.metrics.routes import add_metrics_route


@hookimpl
def register_services(hub, register):
    settings = hub.config.section("metrics", MetricsSettings)
    if settings.enabled:
        register(HubMetrics(hub, settings), name="metrics")


@hookimpl
def register_web_routes(hub, app):
    metrics = hub.services.get("metrics")
    if metrics is not None:
        add_metrics_route(app, metrics)
