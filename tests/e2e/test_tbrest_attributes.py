"""tb-rest-client 4.4 (.venv-tbrest, built by tests/setup_clients.sh), unchanged, saving and
deleting a device's attributes through the reference's device-only routes
``POST|DELETE /api/plugins/telemetry/{deviceId}/{scope}``; a device connected over MQTT
gets the shared attributes pushed, as with the entity-type route."""

from __future__ import annotations

import json

from tests.e2e.test_claim_clients import SCRIPTS, TBREST_PYTHON, client_python
from tests.plugins.transport_mqtt.paho_client import V311, Paho
from tests.support import ADMIN_EMAIL, ADMIN_PASSWORD, run_script


async def _values(hub, device_id: str, scope: str) -> dict:
    status, rows = await hub.admin("GET", f"/api/plugins/telemetry/DEVICE/{device_id}/values/attributes/{scope}")
    assert status == 200, rows
    return {row["key"]: row["value"] for row in rows}


async def test_tb_rest_client_saves_and_deletes_device_attributes(mqtt_hub, tmp_path):
    python = client_python(TBREST_PYTHON)
    hub = mqtt_hub
    status, body = await hub.provision(deviceName="tbrest-attrs", provisionDeviceKey=hub.key,
                                       provisionDeviceSecret=hub.secret)
    assert status == 200, body
    device_id, token = body["deviceId"], body["credentialsValue"]
    device = Paho(V311, username=token)
    assert await device.connect(hub.mqtt_port) == 0
    try:
        assert await device.subscribe("v1/devices/me/attributes", qos=1) == 1
        settings = [hub.base_url, ADMIN_EMAIL, ADMIN_PASSWORD, device_id]
        code, out = await run_script(SCRIPTS / "tbrest_attributes.py", settings, tmp_path, python=python)
        assert code == 0, out
        steps = {s["step"]: s for s in (json.loads(line) for line in out.splitlines() if line.startswith("{"))}
        for name in ("save_server", "save_shared", "delete_keys", "delete_key"):
            assert steps[name]["status"] == 200, out
        # The reference refuses client-side attributes from people; an unknown device is 404.
        assert steps["client_scope"]["status"] == 400, out
        unknown = steps["unknown_device"]
        assert unknown["status"] == 404 and json.loads(unknown["body"])["errorCode"] == 32, out
        pushed = await device.message()
        assert json.loads(pushed.payload) == {"target": 21.5, "mode": "eco", "fan": 2}, pushed
    finally:
        await device.close()
    server = await _values(hub, device_id, "SERVER_SCOPE")
    assert server["room"] == "B-12" and "floor" not in server, server
    assert await _values(hub, device_id, "SHARED_SCOPE") == {"target": 21.5}
