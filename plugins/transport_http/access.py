"""The access log: one INFO line per HTTP request on the ``gridlinks.access`` logger,
method, path, status and milliseconds, with every secret masked.

A device's access token is part of its path (``/api/v1/{token}/telemetry``): it is
logged as ``/api/v1/***/telemetry``. Query parameters whose name says they hold a
secret (a word of it is token, secret, password, key, code, ...) keep their name and lose their value
(``?accessToken=***``). The other fields go to the record as ``extra`` attributes
(``method``, ``path``, ``status``, ``ms``, ``peer``), so ``log_format: json`` gives a
shipper separate fields.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote

from aiohttp.abc import AbstractAccessLogger

ACCESS_LOGGER = logging.getLogger("gridlinks.access")

_DEVICE_PATH = re.compile(r"^/api/v1/([^/?]+)(/.*)?$")
# A parameter is secret when one of the words of its name (camelCase, snake_case or
# kebab-case) is one of these: accessToken, api_key, provisionDeviceSecret, password...
_SECRET_WORDS = frozenset({"token", "secret", "password", "passwd", "pass", "pwd", "key", "apikey", "code", "auth",
                           "authorization", "jwt", "sig", "signature", "session", "credential", "credentials"})
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_MAX_PATH = 512  # what a client sends is cut, never a reason for a huge log line


def mask_path(raw_path: str) -> str:
    """``/api/v1/{token}/...`` with the token replaced by ``***`` (not ``/api/v1/provision``)."""
    found = _DEVICE_PATH.match(raw_path)
    if found and found.group(1) != "provision":
        return "/api/v1/***" + (found.group(2) or "")
    return raw_path


def is_secret_name(name: str) -> bool:
    return any(word.lower() in _SECRET_WORDS for word in _WORD.findall(name))


def mask_query(raw_query: str) -> str:
    """The query string with the values of secret-like parameters replaced by ``***``."""
    if not raw_query:
        return ""
    parts = []
    for item in raw_query.split("&"):
        name, eq, _value = item.partition("=")
        parts.append(f"{name}=***" if eq and is_secret_name(unquote(name)) else item)
    return "&".join(parts)


def masked_target(raw_path: str, raw_query: str) -> str:
    """What the access log shows of a request target: path and query, secrets masked."""
    query = mask_query(raw_query)
    target = mask_path(raw_path) + ("?" + query if query else "")
    return target if len(target) <= _MAX_PATH else target[:_MAX_PATH] + "..."


class AccessLogger(AbstractAccessLogger):
    """aiohttp's access logger, with the hub's masking and its fields as record extras."""

    def log(self, request: Any, response: Any, time: float) -> None:
        url = request.rel_url
        target = masked_target(url.raw_path, url.raw_query_string)
        ms = round(time * 1000, 1)
        peer = request.remote or "-"
        scheme = "https" if request.secure else "http"
        self.logger.info("%s %s %s %d %.1f ms", peer, request.method, target, response.status, ms,
                         extra={"method": request.method, "path": target, "status": response.status,
                                "ms": ms, "peer": peer, "scheme": scheme})

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
