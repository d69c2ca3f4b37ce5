"""Baseline: a bare aiohttp handler that parses a provision request and returns a
response of the same shape, with no storage and no rules. The hub's HTTP provisioning
is reported as a fraction of this."""

import json
import sys

from aiohttp import web


async def provision(request: web.Request) -> web.Response:
    body = json.loads(await request.read())
    return web.json_response({"credentialsValue": "A" * 20, "credentialsType": "ACCESS_TOKEN", "status": "SUCCESS",
                              "deviceId": "00000000-0000-0000-0000-000000000000",
                              "deviceName": body.get("deviceName", "")})


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "UP"})


def main() -> None:
    port = int(sys.argv[1])
    app = web.Application()
    app.router.add_post("/api/v1/provision", provision)
    app.router.add_get("/api/health", health)
    print("ready", flush=True)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
