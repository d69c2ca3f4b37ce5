"""The aiohttp server: one application for devices and people, on ``http.port`` and,
with TLS, on ``http.tls_port`` (see :mod:`.https`)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import web
from pydantic import Field

from gridlinks.core.config import Settings
from gridlinks.core.errors import ConfigError
from gridlinks.core.tls import ssl_server_context
from gridlinks.plugins.transport_http.access import ACCESS_LOGGER, AccessLogger
from gridlinks.plugins.transport_http.errors import error_middleware
from gridlinks.plugins.transport_http.guard import SERVER_HEADER, ConnectionLimits, GuardedAppRunner
from gridlinks.plugins.transport_http.https import certificate_files, redirect_middleware, secure_cookies
from gridlinks.web.bodies import BODY_LIMITS, BodyLimits
from gridlinks.web.openapi import PUBLIC, api_doc
from gridlinks.web.openapi_schemas import Health

log = logging.getLogger(__name__)

HUB_KEY = web.AppKey("hub", object)


async def _server_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER_HEADER


class HttpSettings(Settings):
    port: int = 8080
    # HTTPS for the dashboard and the REST APIs (and the device API); 0 or null: none.
    tls_port: int | None = Field(8443, ge=0, le=65535)
    # null: the MQTT listener's certificate (mqtt.cert_file, or the generated data_dir/tls pair).
    cert_file: Path | None = None
    key_file: Path | None = None
    # Plain HTTP answers only 308 to HTTPS, except the device API (/api/v1/...) and /api/health.
    redirect_to_https: bool = False
    # One INFO line per request on the gridlinks.access logger (docs/logging.md).
    access_log: bool = True
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
        self._runner: GuardedAppRunner | None = None
        if settings.redirect_to_https and not settings.tls_port:
            raise ConfigError("http.redirect_to_https needs HTTPS: set http.tls_port")

    @property
    def tls_port(self) -> int | None:
        return self.settings.tls_port or None

    @property
    def open_connections(self) -> int:
        """HTTP connections open now (both ports): the metrics' open sessions."""
        server = self._runner.server if self._runner is not None else None
        return len(getattr(server, "_connections", ()) or ())

    def build_app(self) -> web.Application:
        middlewares = [error_middleware]
        if self.settings.redirect_to_https and self.tls_port:
            middlewares.append(redirect_middleware(self.tls_port))
        app = web.Application(middlewares=middlewares, client_max_size=self.settings.max_admin_body_bytes)
        app.on_response_prepare.append(secure_cookies)
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
        logging_kw = {"access_log": ACCESS_LOGGER, "access_log_class": AccessLogger} if self.settings.access_log \
            else {"access_log": None}
        ssl_context = None
        if self.tls_port:
            cert, key = certificate_files(self.hub, self.settings.cert_file, self.settings.key_file)
            ssl_context = await asyncio.get_running_loop().run_in_executor(None, ssl_server_context, cert, key)
        self._runner = GuardedAppRunner(self.build_app(), self.settings.connection_limits(), handle_signals=False,
                                        **logging_kw)
        await self._runner.setup()
        bind = self.hub.settings.bind
        sites = [(self.settings.port, None, "http.port", "GRIDLINKS_HTTP_PORT")]
        if ssl_context is not None:
            sites.append((self.tls_port, ssl_context, "http.tls_port", "GRIDLINKS_HTTP_TLS_PORT"))
        for port, ctx, setting, env in sites:
            try:
                await web.TCPSite(self._runner, bind, port, reuse_address=True, ssl_context=ctx).start()
            except OSError as exc:
                await self._runner.cleanup()
                self._runner = None
                raise self.hub.bind_error(port, setting, env, exc) from None
        log.info("HTTP listening on http://%s:%d (device API, admin API, dashboard)%s",
                 bind, self.settings.port, f", HTTPS on {self.tls_port}" if ssl_context is not None else "")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
