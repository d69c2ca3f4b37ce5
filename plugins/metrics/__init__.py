"""``GET /metrics`` in the Prometheus text format (docs/metrics.md).

Counters follow the bus (provisions, claims, device auth failures), the group-commit
histograms follow the storage's commit observers, gauges (open sessions, devices
stored) are read at scrape time. One ``CollectorRegistry`` per hub, never the
process-global one: several hubs may run in one process (the tests).

The collector is built when the HTTP transport builds its application (``gridlinks
run``), not for CLI commands, which never serve it.
"""

from __future__ import annotations

from gridlinks.core import hookimpl
from gridlinks.plugins.metrics.settings import MetricsSettings


@hookimpl
def register_services(hub, register):
    hub.config.section("metrics", MetricsSettings)  # validated (and claimed) at load time


@hookimpl
def register_web_routes(hub, app):
    settings = hub.config.section("metrics", MetricsSettings)
    if not settings.enabled:
        return
    from gridlinks.plugins.metrics.collector import HubMetrics
    from gridlinks.plugins.metrics.routes import add_metrics_route

    metrics = hub.services.get("metrics")
    if metrics is None:
        metrics = hub.services.register(HubMetrics(hub, settings), name="metrics")
    add_metrics_route(app, metrics)
