"""The aiohttp server: one application on ``http.port`` for devices and people."""

from __future__ import annotations

import logging

from aiohttp import web
from pydantic import Field

from gridlinks.core.config import Settings
from gridlinks.plugins.transport_http.errors import error_middleware
from gridlinks.plugins.transport_http.guard import SERVER_HEADER, ConnectionLimits, GuardedAppRunner
from gridlinks.web.bodies import BODY_LIMITS, BodyLimits
from gridlinks.web.openapi import PUBLIC, api_doc
from gridlinks.web.openapi_schemas import Health

log = logging.getLogger(__name__)

HUB_KEY = web.AppKey("hub", object)


async def _server_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER_HEADER


class HttpSettings(Settings):
    port: int = 8080
    # Request bodies people send (CSV bulk import) may be large; device payloads are
    # limited separately by the hub's max_payload_bytes.
    max_admin_body_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    # Other JSON bodies of the admin/REST API.
    max_json_body_bytes: int = Field(1024 * 1024, ge=1024)
    # Bodies from callers nobody has authenticated yet: login, token refresh, provisioning.
    max_unauthenticated_body_bytes: int = Field(64 * 1024, ge=1024)
    # nginx's client_header_timeout / client_body_timeout / keepalive_timeout (docs/http.md).
    header_timeout_s: float = Field(60.0, gt=0)
    body_timeout_s: float = Field(60.0, gt=0)
    keepalive_timeout_s: float = Field(75.0, gt=0)
    # Connections past this get 503 and are closed; open ones are unaffected.
    max_connections: int = Field(10_000, ge=1)

    def connection_limits(self) -> ConnectionLimits:
        return ConnectionLimits(self.header_timeout_s, self.body_timeout_s, self.keepalive_timeout_s,
                                self.max_connections)

    def body_limits(self) -> BodyLimits:
        return BodyLimits(unauthenticated=self.max_unauthenticated_body_bytes, json=self.max_json_body_bytes,
                          bulk=self.max_admin_body_bytes)


class HttpTransport:
    name = "http"

    def __init__(self, hub, settings: HttpSettings):
        self.hub = hub
        self.settings = settings
        self._runner: web.AppRunner | None = None

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[error_middleware], client_max_size=self.settings.max_admin_body_bytes)
        app[HUB_KEY] = self.hub
        app[BODY_LIMITS] = self.settings.body_limits()
        app.on_response_prepare.append(_server_header)
        app.router.add_get("/api/health", self._health)
        self.hub.pm.hook.register_web_routes(hub=self.hub, app=app)
        return app

    @api_doc("UP while the hub can store (503 DOWN when not)", tag="health", auth=PUBLIC, response=Health,
             errors=(), responses={503: ("DOWN: the write path does not commit", Health)})
    async def _health(self, request: web.Request) -> web.Response:
        """UP only while the write path commits: a hub that answers but cannot store
        must be taken out of a load balancer (503)."""
        storage = self.hub.storage
        writer = storage.health() if storage is not None else {"ok": False, "reason": "storage is not open"}
        if writer["ok"]:
            return web.json_response({"status": "UP"})
        return web.json_response({"status": "DOWN", "writer": writer}, status=503)

    async def start(self) -> None:
        self._runner = GuardedAppRunner(self.build_app(), self.settings.connection_limits(), access_log=None,
                                        handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.hub.settings.bind, self.settings.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise self.hub.bind_error(self.settings.port, "http.port", "GRIDLINKS_HTTP_PORT", exc) from None
        log.info("HTTP listening on http://%s:%d (device API, admin API, dashboard)",
                 self.hub.settings.bind, self.settings.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
