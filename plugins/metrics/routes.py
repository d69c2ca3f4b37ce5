"""``GET /metrics``: the exposition, behind ``metrics.token`` when one is set."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from gridlinks.core.services.tokens import secrets_equal
from gridlinks.plugins.metrics.collector import HubMetrics
from gridlinks.plugins.transport_http.errors import error_response


def bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def add_metrics_route(app: web.Application, metrics: HubMetrics) -> None:
    async def scrape(request: web.Request) -> web.Response:
        expected = metrics.settings.token
        if expected is not None and not secrets_equal(bearer(request), expected):
            return error_response(401, "A bearer token is required for /metrics (metrics.token)",
                                  headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        return web.Response(body=await metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/metrics", scrape)
