"""The OpenAPI 3.1 document of the hub's HTTP API, generated from the routes themselves.

A handler says what it is with one decorator, next to its code::

    @api_doc("Get a device", tag="devices", response=DeviceOut)
    async def get_device(self, request): ...

and the document is built, on the first ``GET /api/openapi.json``, by walking the
application's router: every ``/api/...`` route, its method and path (path parameters from
the pattern), the decorator's summary, query model, body model, response model and status
codes. Bodies, queries and responses are the pydantic models the handlers validate with
(:mod:`gridlinks.web.schemas`) or answer with (:mod:`gridlinks.web.openapi_schemas`),
turned into JSON Schema by pydantic (``TypeAdapter.json_schemas``), which is what OpenAPI
3.1 uses. An ``/api`` route without the decorator still appears (with its docstring and
``x-undescribed: true``), so the document never leaves a route out.

``/api/docs`` is Swagger UI, served from the hub itself (the ``swagger-ui-py`` package's
static files): LAN sites have no internet.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata, resources
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter

from gridlinks.web.openapi_schemas import ErrorBody

OPENAPI_PATH = "/api/openapi.json"
DOCS_PATH = "/api/docs"
ATTRIBUTE = "__openapi__"
COMPONENTS = "#/components/schemas/{model}"

# Who may call an operation.
PUBLIC = "public"  # nobody is signed in (login, provisioning)
USER = "user"  # any signed-in person (JWT)
ADMIN = "admin"  # a tenant admin (or the system admin)
DEVICE = "device"  # a device, by the access token in the path

_ERRORS = {PUBLIC: (400,), USER: (400, 401), ADMIN: (400, 401, 403, 404), DEVICE: (400, 401)}
_ERROR_TEXT = {400: "Bad request", 401: "Not signed in, or the token is not valid", 403: "Not allowed",
               404: "Not found", 413: "Body too large", 429: "Too many failed attempts; see Retry-After",
               503: "The hub cannot serve right now"}
_SECURITY = [{"X-Authorization": []}, {"bearerAuth": []}]


@dataclass(frozen=True)
class Operation:
    """What :func:`api_doc` records on a handler."""

    summary: str
    tag: str
    auth: str = ADMIN
    body: Any = None  # a type pydantic can describe; None: no body
    body_required: bool = False
    body_content_type: str = "application/json"
    query: type[BaseModel] | None = None
    response: Any = None  # the success body's type; None: an empty body
    status: int = 200
    errors: tuple[int, ...] | None = None  # None: the usual ones for ``auth`` (and 413 with a body)
    responses: dict[int, tuple[str, Any]] = field(default_factory=dict)  # more: status -> (text, type)
    description: str | None = None  # None: the handler's docstring
    hidden: bool = False  # left out of the document (the docs page's own routes)


def api_doc(summary: str, **kwargs: Any) -> Callable[[Any], Any]:
    """Describe a route handler for the OpenAPI document; see :class:`Operation`."""
    operation = Operation(summary, **kwargs)

    def record(handler: Any) -> Any:
        setattr(handler, ATTRIBUTE, operation)
        return handler
    return record


def operation_of(handler: Any) -> Operation | None:
    return getattr(handler, ATTRIBUTE, None)


# -- building the document ------------------------------------------------------------------


@dataclass
class _Route:
    method: str
    path: str
    handler: Any
    operation: Operation | None


def api_routes(app: web.Application) -> list[_Route]:
    """Every ``/api`` route of the application (static files and HEAD left out)."""
    out = []
    for route in app.router.routes():
        resource = route.resource
        if route.method in ("HEAD", "*") or resource is None or isinstance(resource, web.StaticResource):
            continue
        path = resource.canonical
        if not path.startswith("/api/"):
            continue
        operation = operation_of(route.handler)
        if operation is not None and operation.hidden:
            continue
        out.append(_Route(route.method, path, route.handler, operation))
    return out


class _Schemas:
    """Collects the types the operations name and turns them into JSON Schema in one go,
    so every model is one entry of ``components.schemas`` however often it is used."""

    def __init__(self) -> None:
        self._inputs: dict[tuple[int, str], tuple[tuple[int, str], str, TypeAdapter[Any]]] = {}

    def ref(self, type_: Any, mode: str) -> tuple[int, str]:
        key = (id(type_), mode)
        if key not in self._inputs:
            self._inputs[key] = (key, mode, TypeAdapter(type_))
        return key

    def resolve(self) -> tuple[dict[tuple[int, str], Any], dict[str, Any]]:
        if not self._inputs:
            return {}, {}
        schemas, defs = TypeAdapter.json_schemas(list(self._inputs.values()), ref_template=COMPONENTS)  # type: ignore[arg-type]
        return {key: schema for (key, _mode), schema in schemas.items()}, defs.get("$defs", {})


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is a string or absent, never JSON null: ``X | None`` becomes ``X``."""
    options = schema.get("anyOf")
    if options:
        rest = [s for s in options if s.get("type") != "null"]
        if len(rest) == 1:
            merged = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
            return {**rest[0], **merged}
    return {k: v for k, v in schema.items() if k != "default" or v is not None}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=COMPONENTS)
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema.get("properties", {}).items():
        prop = _without_null(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            param["description"] = description
        out.append(param)
    return out


_PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")


def _path_parameters(path: str, auth: str) -> list[dict[str, Any]]:
    params = []
    for name in _PATH_PARAM.findall(path):
        description = "the device's access token" if name == "token" and auth == DEVICE else None
        param: dict[str, Any] = {"name": name, "in": "path", "required": True,
                                 "schema": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}}
        if description:
            param["description"] = description
        params.append(param)
    return params


def _camel(name: str) -> str:
    head, *rest = name.strip("_").split("_")
    return head + "".join(part.capitalize() for part in rest)


def _docstring(handler: Any) -> str:
    return " ".join((getattr(handler, "__doc__", None) or "").split())


class OpenApiDocument:
    """Builds (once) and serves the document of the application it is attached to."""

    def __init__(self, title: str, version: str, description: str = ""):
        self.title, self.version, self.description = title, version, description
        self._document: dict[str, Any] | None = None

    def build(self, app: web.Application) -> dict[str, Any]:
        schemas = _Schemas()
        pending: list[tuple[dict[str, Any], str, Any, str]] = []  # (where, key, type, mode): filled after resolve
        paths: dict[str, dict[str, Any]] = {}
        operation_ids: set[str] = set()
        tags: dict[str, None] = {}
        for route in api_routes(app):
            op = route.operation
            entry = self._operation(route, schemas, pending)
            base = _camel(getattr(route.handler, "__name__", "") or route.method.lower())
            operation_id, n = base, 1
            while operation_id in operation_ids:
                n += 1
                operation_id = f"{base}{n}"
            operation_ids.add(operation_id)
            entry["operationId"] = operation_id
            if op is not None:
                tags[op.tag] = None
            paths.setdefault(route.path, {})[route.method.lower()] = entry
        resolved, defs = schemas.resolve()
        for where, key, type_, mode in pending:
            where[key] = resolved[schemas.ref(type_, mode)]
        document: dict[str, Any] = {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version, "description": self.description},
            "tags": [{"name": t} for t in tags],
            "paths": dict(sorted(paths.items())),
            "components": {
                "schemas": defs,
                "securitySchemes": {
                    "X-Authorization": {"type": "apiKey", "in": "header", "name": "X-Authorization",
                                        "description": "`Bearer <token>`, the token from POST /api/auth/login"},
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                },
            },
        }
        return document

    def _operation(self, route: _Route, schemas: _Schemas, pending: list) -> dict[str, Any]:
        op = route.operation
        if op is None:
            return {"summary": f"{route.method} {route.path}", "description": _docstring(route.handler),
                    "parameters": _path_parameters(route.path, ""), "x-undescribed": True,
                    "responses": {"default": {"description": "not described"}}}
        entry: dict[str, Any] = {"tags": [op.tag], "summary": op.summary}
        description = op.description if op.description is not None else _docstring(route.handler)
        if description:
            entry["description"] = description
        parameters = _path_parameters(route.path, op.auth)
        if op.query is not None:
            parameters += _query_parameters(op.query)
        if parameters:
            entry["parameters"] = parameters
        if op.auth in (USER, ADMIN):
            entry["security"] = _SECURITY
        elif op.auth in (PUBLIC, DEVICE):
            entry["security"] = []
        if op.body is not None:
            media: dict[str, Any] = {}
            pending.append((media, "schema", op.body, "validation"))
            schemas.ref(op.body, "validation")
            entry["requestBody"] = {"required": op.body_required, "content": {op.body_content_type: media}}
        responses: dict[str, Any] = {}
        ok: dict[str, Any] = {"description": "OK"}
        if op.response is not None:
            ok["content"] = {"application/json": self._typed(op.response, schemas, pending)}
        responses[str(op.status)] = ok
        errors = op.errors if op.errors is not None else _ERRORS[op.auth] + ((413,) if op.body is not None else ())
        for status in errors:
            if op.auth == DEVICE and status == 401:
                responses["401"] = {"description": "Unknown access token (empty body)"}
                continue
            responses[str(status)] = {"description": _ERROR_TEXT.get(status, "Error"),
                                      "content": {"application/json": self._typed(ErrorBody, schemas, pending)}}
        for status, (text, type_) in op.responses.items():
            responses[str(status)] = {"description": text}
            if type_ is not None:
                responses[str(status)]["content"] = {"application/json": self._typed(type_, schemas, pending)}
        entry["responses"] = dict(sorted(responses.items()))
        return entry

    @staticmethod
    def _typed(type_: Any, schemas: _Schemas, pending: list) -> dict[str, Any]:
        media: dict[str, Any] = {}
        schemas.ref(type_, "serialization")
        pending.append((media, "schema", type_, "serialization"))
        return media

    def document(self, app: web.Application) -> dict[str, Any]:
        if self._document is None:
            self._document = self.build(app)
        return self._document

    @api_doc("This document (OpenAPI 3.1)", tag="docs", auth=PUBLIC, response=dict[str, Any], errors=())
    async def serve(self, request: web.Request) -> web.Response:
        """Generated from the hub's routes and the models their handlers validate with."""
        return web.json_response(self.document(request.app))


# -- the interactive page --------------------------------------------------------------------

# Swagger UI 5 (renders OpenAPI 3.1), shipped inside the swagger-ui-py wheel. Only these
# files are served.
_ASSETS = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "application/javascript",
           "favicon-32x32.png": "image/png", "favicon-16x16.png": "image/png"}

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>GridLinks Hub API</title>
  <link rel="stylesheet" href="docs/static/swagger-ui.css">
  <link rel="icon" type="image/png" href="docs/static/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/static/swagger-ui-bundle.js"></script>
  <script src="docs/static/init.js"></script>
</body>
</html>
"""

# Kept out of the page so a Content-Security-Policy without 'unsafe-inline' still works.
_INIT = """window.ui = SwaggerUIBundle({
  url: "openapi.json", dom_id: "#swagger-ui", deepLinking: true, persistAuthorization: true,
  presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout"
});
"""


def _asset_dir() -> Any:
    return resources.files("swagger_ui") / "static"


@api_doc("Swagger UI", tag="docs", auth=PUBLIC, hidden=True)
async def docs_page(request: web.Request) -> web.Response:
    return web.Response(text=_PAGE, content_type="text/html")


@api_doc("Swagger UI's files", tag="docs", auth=PUBLIC, hidden=True)
async def docs_asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name == "init.js":
        return web.Response(text=_INIT, content_type="application/javascript")
    content_type = _ASSETS.get(name)
    if content_type is None:
        raise web.HTTPNotFound()
    body = (_asset_dir() / name).read_bytes()
    return web.Response(body=body, content_type=content_type, headers={"Cache-Control": "max-age=86400"})


DESCRIPTION = (
    "The device HTTP API (`/api/v1/...`: provisioning, telemetry, attributes, claim info; the device's access "
    "token is in the path) and the admin REST API (reference-shaped: tb-rest-client works). Sign in with "
    "`POST /api/auth/login`, then send `X-Authorization: Bearer <token>` (Authorize, above). Errors are "
    '`{"status", "message", "errorCode"}`. Guide: docs/api.md.')


def hub_version() -> str:
    try:
        return metadata.version("gridlinks")
    except metadata.PackageNotFoundError:
        return "0"


def add_routes(app: web.Application, title: str = "GridLinks Hub API", version: str | None = None,
               description: str = DESCRIPTION) -> OpenApiDocument:
    """``GET /api/openapi.json`` and the ``/api/docs`` page on ``app``."""
    document = OpenApiDocument(title, version or hub_version(), description)
    app.router.add_get(OPENAPI_PATH, document.serve)
    app.router.add_get(DOCS_PATH, docs_page)
    app.router.add_get(DOCS_PATH + "/static/{name}", docs_asset)
    return document


def undescribed(app: web.Application) -> Iterable[str]:
    """``METHOD /path`` of every ``/api`` route without :func:`api_doc` (tests list them)."""
    return [f"{r.method} {r.path}" for r in api_routes(app) if r.operation is None]
