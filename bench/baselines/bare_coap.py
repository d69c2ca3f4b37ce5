"""Baseline: a bare aiocoap server (the library under the hub's CoAP transport, set up the
same way: udp6 transport only) whose ``POST /api/v1/provision`` parses the JSON body and
answers 2.01 with a provision reply of the same shape, with no storage and no rules.

    python bench/baselines/bare_coap.py PORT
"""

import asyncio
import json
import logging
import sys

import aiocoap
import aiocoap.resource as resource


class Provision(resource.Resource):
    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        body = json.loads(request.payload)
        reply = {"credentialsValue": "A" * 20, "credentialsType": "ACCESS_TOKEN", "status": "SUCCESS",
                 "deviceId": "00000000-0000-0000-0000-000000000000", "deviceName": body.get("deviceName", "")}
        return aiocoap.Message(code=aiocoap.CREATED, payload=json.dumps(reply).encode(),
                               content_format=50)


async def main(port: int) -> None:
    logging.basicConfig(level=logging.ERROR)
    site = resource.Site()
    site.add_resource(["api", "v1", "provision"], Provision())
    context = await aiocoap.Context.create_server_context(site, bind=("127.0.0.1", port), transports=["udp6"])
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await context.shutdown()


if __name__ == "__main__":
    try:
        asyncio.run(main(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
