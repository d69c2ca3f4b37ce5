"""The OpenAPI document (GET /api/openapi.json): valid OpenAPI 3.1, generated from every
/api route; the Swagger UI page at /api/docs with its files served by the hub itself; the
Server header; the reference's device-only attribute routes."""

from __future__ import annotations

import asyncio
import json
import re

from openapi_spec_validator import validate

from gridlinks.web.openapi import undescribed


async def test_document_is_valid_openapi_31_and_covers_every_api_route(running):
    status, doc = await running.get("/api/openapi.json")
    assert status == 200
    validate(doc)  # raises on an invalid document
    assert doc["openapi"] == "3.1.0"
    # Generated from the router: every /api route of the running hub, none left undescribed.
    app = running.hub.transports.get("http")._runner.app
    assert list(undescribed(app)) == []
    routes = {(r.method.lower(), r.resource.canonical) for r in app.router.routes()
              if r.resource is not None and r.resource.canonical.startswith("/api/") and r.method != "HEAD"}
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == routes - {("get", "/api/docs"), ("get", "/api/docs/static/{name}")}
    paths = doc["paths"]
    # The device API, the admin API, the customer/claim/session APIs and a plugin's routes.
    for method, path in [("post", "/api/v1/provision"), ("post", "/api/v1/{token}/telemetry"),
                         ("get", "/api/v1/{token}/attributes"), ("post", "/api/auth/login"),
                         ("get", "/api/tenant/devices"), ("post", "/api/plugins/telemetry/{id}/{scope}"),
                         ("delete", "/api/plugins/telemetry/{id}/{scope}"), ("post", "/api/customer"),
                         ("post", "/api/customer/device/{deviceName}/claim"), ("post", "/api/auth/logout"),
                         ("get", "/api/dynamicRegistration/product/{id}")]:
        assert method in paths.get(path, {}), (method, path)
    login = paths["/api/auth/login"]["post"]
    assert login["security"] == [] and login["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/LoginBody"}
    assert login["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TokenPair"}
    devices = paths["/api/tenant/devices"]["get"]
    assert {p["name"] for p in devices["parameters"]} >= {"page", "pageSize", "textSearch", "deviceName"}
    assert devices["security"] and "401" in devices["responses"] and "403" in devices["responses"]
    # every $ref points at a schema the document holds
    text = json.dumps(doc)
    for name in set(re.findall(r'"#/components/schemas/([^"]+)"', text)):
        assert name in doc["components"]["schemas"], name
    # built once
    assert (await running.get("/api/openapi.json"))[1] == doc


async def test_docs_page_and_its_files_come_from_the_hub(running):
    status, page = await running.get("/api/docs")
    assert status == 200 and "swagger-ui" in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page), "the page must not load anything from the internet"
    for name, kind in [("swagger-ui-bundle.js", "application/javascript"), ("swagger-ui.css", "text/css"),
                       ("init.js", "application/javascript"), ("favicon-32x32.png", "image/png")]:
        assert f"docs/static/{name}" in page or name == "favicon-32x32.png" or name == "init.js"
        async with running.session.get(f"{running.base_url}/api/docs/static/{name}") as r:
            assert r.status == 200 and r.content_type == kind, name
            assert len(await r.read()) > 100 or name == "init.js"
    async with running.session.get(f"{running.base_url}/api/docs/static/init.js") as r:
        assert "openapi.json" in await r.text()
    for name in ("swagger-editor-bundle.js", "..%2Fopenapi.py", "LICENSE"):
        assert (await running.get(f"/api/docs/static/{name}"))[0] == 404


async def test_server_header_names_no_framework_version(running):
    for path in ("/api/health", "/api/openapi.json", "/api/no-such-route", "/ui/login"):
        async with running.session.get(running.base_url + path, allow_redirects=False) as r:
            assert r.headers["Server"] == "GridLinks", (path, r.headers.get("Server"))
    # A request aiohttp cannot parse (a request line over 8190 bytes) gets the JSON error body
    # and the same header; the path (which may hold a token) is not echoed.
    port = int(running.base_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /api/v1/" + b"t" * 9000 + b"/attributes HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"400" and b"Server: GridLinks" in head, head
    assert b"aiohttp" not in raw and b"ttttt" not in raw
    assert json.loads(body) == {"status": 400, "message": "Bad Request", "errorCode": 31}


async def test_device_only_attribute_routes(running):
    """The reference's save/delete device attributes without the entity type (tb-rest-client's
    save_device_attributes / delete_device_attributes; the real client: tests/e2e/test_tbrest_attributes.py)."""
    status, device = await running.admin("POST", "/api/device", {"name": "attr-routes"})
    assert status == 200
    did = device["id"]["id"]
    base = f"/api/plugins/telemetry/{did}"
    assert (await running.admin("POST", f"{base}/SHARED_SCOPE", {"a": 1, "b": 2, "c": 3, "d,e": 4}))[0] == 200
    assert (await running.admin("POST", f"{base}/SERVER_SCOPE", {"s": "x"}))[0] == 200
    status, rows = await running.admin("GET", f"/api/plugins/telemetry/DEVICE/{did}/values/attributes/SHARED_SCOPE")
    assert {r["key"] for r in rows} == {"a", "b", "c", "d,e"}
    assert (await running.delete(f"{base}/SHARED_SCOPE?keys=a,b", token=running.admin_token))[0] == 200
    assert (await running.delete(f"{base}/SHARED_SCOPE?key=d,e&key=c", token=running.admin_token))[0] == 200
    status, rows = await running.admin("GET", f"/api/plugins/telemetry/DEVICE/{did}/values/attributes/SHARED_SCOPE")
    assert rows == []
    status, body = await running.admin("POST", f"{base}/NOPE_SCOPE", {"a": 1})
    assert status == 400 and body["errorCode"] == 31
    status, body = await running.admin("POST", f"{base}/CLIENT_SCOPE", {"a": 1})
    assert status == 400
    assert (await running.post(f"{base}/SERVER_SCOPE", json={"a": 1}))[0] == 401
    unknown = "/api/plugins/telemetry/00000000-0000-0000-0000-000000000001/SERVER_SCOPE"
    status, body = await running.admin("POST", unknown, {"a": 1})
    assert status == 404 and body["errorCode"] == 32
