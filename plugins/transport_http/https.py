"""HTTPS beside plain HTTP: the same application on ``http.tls_port``, with the server
certificate MQTT over TLS uses (:mod:`gridlinks.core.tls`), cookies marked ``Secure``
there, and optionally plain HTTP answering people only with a redirect.

``http.redirect_to_https: true`` makes every plain-HTTP request a 308 to the same path
on the HTTPS port, except the device API (``/api/v1/...``: firmware may not speak TLS)
and ``/api/health`` (load balancers probe it on the plain port). 308, not 301, so a
POST stays a POST with its body.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from gridlinks.core.tls import server_certificate_files

# Plain-HTTP paths that keep working when plain HTTP redirects people to HTTPS.
PLAIN_HTTP_PREFIXES = ("/api/v1/", "/api/health")


def certificate_files(hub: Any, cert_file: Path | None, key_file: Path | None) -> tuple[Path, Path]:
    """``http.cert_file``/``key_file`` when set; else the MQTT listener's (its own files
    when the operator gave ``mqtt.cert_file``), else the generated pair in data_dir/tls."""
    if cert_file is None and key_file is None:
        mqtt = hub.transports.get("mqtt")
        if mqtt is not None and hasattr(mqtt, "cert_file") and hasattr(mqtt, "key_file"):
            return Path(mqtt.cert_file), Path(mqtt.key_file)
    return server_certificate_files(hub.settings.data_dir, cert_file, key_file)


def redirect_middleware(tls_port: int):
    """Plain HTTP answers a 308 to ``https://host:tls_port/same/path?query``."""

    @web.middleware
    async def redirect_to_https(request: web.Request, handler):
        if request.secure or request.path.startswith(PLAIN_HTTP_PREFIXES):
            return await handler(request)
        host = request.url.host or "localhost"
        if ":" in host and not host.startswith("["):  # an IPv6 literal
            host = f"[{host}]"
        port = "" if tls_port == 443 else f":{tls_port}"
        target = f"https://{host}{port}{request.rel_url.raw_path_qs}"
        return web.Response(status=308, headers={"Location": target})

    return redirect_to_https


async def secure_cookies(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every cookie set over HTTPS gets ``Secure``."""
    if request.secure:
        for morsel in response.cookies.values():
            morsel["secure"] = True
