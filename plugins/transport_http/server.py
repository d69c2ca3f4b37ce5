"""The aiohttp server: one application on ``http.port`` for devices and people."""

from __future__ import annotations

import logging

from aiohttp import web

from gridlinks.core.config import Settings
from gridlinks.plugins.transport_http.errors import error_middleware

log = logging.getLogger(__name__)

HUB_KEY = web.AppKey("hub", object)


class HttpSettings(Settings):
    port: int = 8080
    # Request bodies people send (CSV bulk import) may be large; device payloads are
    # limited separately by the hub's max_payload_bytes.
    max_admin_body_bytes: int = 64 * 1024 * 1024


class HttpTransport:
    name = "http"

    def __init__(self, hub, settings: HttpSettings):
        self.hub = hub
        self.settings = settings
        self._runner: web.AppRunner | None = None

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[error_middleware], client_max_size=self.settings.max_admin_body_bytes)
        app[HUB_KEY] = self.hub
        app.router.add_get("/api/health", self._health)
        self.hub.pm.hook.register_web_routes(hub=self.hub, app=app)
        return app

    async def _health(self, request: web.Request) -> web.Response:
        """UP only while the write path commits: a hub that answers but cannot store
        must be taken out of a load balancer (503)."""
        storage = self.hub.storage
        writer = storage.health() if storage is not None else {"ok": False, "reason": "storage is not open"}
        if writer["ok"]:
            return web.json_response({"status": "UP"})
        return web.json_response({"status": "DOWN", "writer": writer}, status=503)

    async def start(self) -> None:
        self._runner = web.AppRunner(self.build_app(), access_log=None, handle_signals=False)
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
