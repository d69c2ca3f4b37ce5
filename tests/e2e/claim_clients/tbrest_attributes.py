"""tb-rest-client 4.4's device-only attribute calls, as an integrator's set-up script makes
them: save_device_attributes (POST /api/plugins/telemetry/{deviceId}/{scope}) and
delete_device_attributes (DELETE ...?keys=, and the repeated ?key= form). Reads the base
URL, username, password and device id from stdin; prints one JSON line per step."""

import json

from tb_rest_client.models.device_id import DeviceId
from tb_rest_client.rest import ApiException
from tb_rest_client.rest_client import RestClient


def step(name, call):
    try:
        call()
        print(json.dumps({"step": name, "status": 200}), flush=True)
    except ApiException as exc:
        body = exc.body.decode() if isinstance(exc.body, bytes) else exc.body
        print(json.dumps({"step": name, "status": exc.status, "body": body}), flush=True)


def main():
    base_url, username, password, device_id = (input() for _ in range(4))
    device = DeviceId(device_id, "DEVICE")
    client = RestClient(base_url=base_url)
    client.login(username, password)  # the client builds its controllers only on login
    step("save_server", lambda: client.save_device_attributes(device, "SERVER_SCOPE", {"room": "B-12", "floor": 3}))
    step("save_shared", lambda: client.save_device_attributes(device, "SHARED_SCOPE",
                                                              {"target": 21.5, "mode": "eco", "fan": 2}))
    step("delete_keys", lambda: client.delete_device_attributes(device, "SHARED_SCOPE", keys="mode,fan"))
    step("delete_key", lambda: client.delete_device_attributes(device, "SERVER_SCOPE", key=["floor"]))
    step("client_scope", lambda: client.save_device_attributes(device, "CLIENT_SCOPE", {"x": 1}))
    step("unknown_device", lambda: client.save_device_attributes(
        DeviceId("00000000-0000-0000-0000-000000000001", "DEVICE"), "SERVER_SCOPE", {"x": 1}))


if __name__ == "__main__":
    main()
