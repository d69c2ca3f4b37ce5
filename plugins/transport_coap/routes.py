"""Path templates for the CoAP device API, so adding an endpoint is one line.

aiocoap's own ``Site`` only matches fixed paths, and our paths carry the device's
access token in the middle (``/api/v1/{token}/telemetry``), so the routing is ours.
A route whose template has ``{token}`` is authenticated before its handler runs: the
handler gets the device and never sees an unknown token (the caller gets 4.01).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiocoap import Code, Message
from aiocoap.numbers import ContentFormat

from gridlinks.core.services.device_payloads import decode_json

TOKEN = "token"
JSON = ContentFormat.JSON


@dataclass
class CoapCall:
    """One decoded request as a handler sees it."""

    request: Message
    params: dict[str, str]
    device: Any = None

    def json(self) -> Any:
        """The payload as JSON, or BadRequest (4.00)."""
        return decode_json(self.request.payload)

    def query(self, name: str) -> str | None:
        """The value of ``?name=...`` (CoAP carries each as its own Uri-Query option)."""
        prefix = name + "="
        for item in self.request.opt.uri_query:
            if item.startswith(prefix):
                return item[len(prefix):]
        return None

    @property
    def observing(self) -> bool:
        """The request registers an observation (Observe option 0)."""
        return self.request.opt.observe == 0


Handler = Callable[[CoapCall], Awaitable[Message]]


@dataclass(frozen=True)
class Route:
    method: Code
    segments: tuple[str, ...]
    handler: Handler
    # Called with (device, ServerObservation) when a GET with Observe 0 arrives here;
    # True when it took the observation.
    observe: Callable[[Any, Any], bool] | None = None
    # The Content-Format of its successful answers (for Accept), None when they have no body.
    produces: ContentFormat | None = None

    @property
    def needs_device(self) -> bool:
        return "{" + TOKEN + "}" in self.segments

    def match(self, path: tuple[str, ...]) -> dict[str, str] | None:
        if len(path) != len(self.segments):
            return None
        params = {}
        for want, got in zip(self.segments, path):
            if want.startswith("{") and want.endswith("}"):
                if not got:
                    return None
                params[want[1:-1]] = got
            elif want != got:
                return None
        return params


class MethodNotAllowed(Exception):
    """The path exists, but not for this method (4.05)."""


@dataclass
class Router:
    routes: list[Route] = field(default_factory=list)

    def add(self, method: str, template: str, handler: Handler,
            observe: Callable[[Any, Any], bool] | None = None, produces: ContentFormat | None = None) -> None:
        segments = tuple(template.strip("/").split("/"))
        self.routes.append(Route(Code[method], segments, handler, observe, produces))

    def find(self, method: Code, path: tuple[str, ...]) -> tuple[Route, dict[str, str]] | None:
        """The route and its path parameters; None for an unknown path; raises
        MethodNotAllowed when only the method is wrong."""
        path_known = False
        for route in self.routes:
            params = route.match(path)
            if params is None:
                continue
            if route.method == method:
                return route, params
            path_known = True
        if path_known:
            raise MethodNotAllowed()
        return None


def json_response(body: Any, code: Code = Code.CONTENT) -> Message:
    return Message(code=code, payload=json.dumps(body).encode(), content_format=JSON)


def empty_response(code: Code) -> Message:
    return Message(code=code)
