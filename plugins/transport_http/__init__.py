"""HTTP transport: the device API (provisioning, telemetry, attributes) and the server
that the admin API and dashboard plugins add their routes to."""

from __future__ import annotations

from gridlinks.core import hookimpl
from gridlinks.plugins.transport_http.device_api import add_device_routes
from gridlinks.plugins.transport_http.server import HttpSettings, HttpTransport


@hookimpl
def register_transports(hub, register):
    register(HttpTransport(hub, hub.config.section("http", HttpSettings)))


@hookimpl
def register_web_routes(hub, app):
    add_device_routes(hub, app)
