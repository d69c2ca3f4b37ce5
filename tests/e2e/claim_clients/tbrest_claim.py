"""Drives tb-rest-client the way a customer's app would: the device sends claim info
through DeviceApiController, a customer user logs in and claims, then re-claims, through
DeviceController. Reads its six settings from stdin, one a line; prints one JSON line per step."""

import json

from tb_rest_client.models.claim_request import ClaimRequest
from tb_rest_client.rest import ApiException
from tb_rest_client.rest_client import RestClient


def step(name, call):
    try:
        result = call()
        print(json.dumps({"step": name, "status": 200, "result": result}), flush=True)
    except ApiException as exc:
        body = exc.body.decode() if isinstance(exc.body, bytes) else exc.body
        print(json.dumps({"step": name, "status": exc.status, "body": body}), flush=True)


def main():
    base_url, username, password, device_name, device_token, secret = (input() for _ in range(6))
    client = RestClient(base_url=base_url)
    client.login(username, password)  # the client builds its controllers only on login
    step("device_claim_info", lambda: client.claim_device(device_token, {"secretKey": secret, "durationMs": 60000}))
    step("wrong_secret", lambda: client.claim_device_by_name(device_name, ClaimRequest(secret_key="not-it")))
    step("claim", lambda: client.claim_device_by_name(device_name, ClaimRequest(secret_key=secret)))
    step("claim_again", lambda: client.claim_device_by_name(device_name, ClaimRequest(secret_key=secret)))
    step("unknown", lambda: client.claim_device_by_name("no such device", ClaimRequest(secret_key=secret)))
    step("reclaim", lambda: client.re_claim_device(device_name))


if __name__ == "__main__":
    main()
