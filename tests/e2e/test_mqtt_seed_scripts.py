"""The seed's four MQTT example scripts (paho-mqtt 1.6.1) run unchanged against a hub
the test starts, and tb-mqtt-client's ``TBDeviceMqttClient.provision``. Each script
provisions, then connects with its new credentials and loops forever: the test waits
(bounded) for the line saying it connected, then stops it."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from gridlinks.core.storage.models import Device, DeviceCredentials
from tests.support import REPO, hub_config, run_until, seed_python_or_skip, start_hub, stop_hub

SCRIPTS = Path(__file__).resolve().parent / "seed_scripts"
TB_PYTHON = REPO / ".venv-tbmqtt" / "bin" / "python"
CONNECTED = "[ThingsBoard client] Connected to ThingsBoard with credentials"


@pytest.fixture
async def hub(tmp_path):
    running = await start_hub(hub_config(tmp_path / "data"))
    settings = running.hub.transports.get("mqtt").settings
    running.mqtt_port, running.mqtts_port = str(settings.port), str(settings.tls_port)
    try:
        yield running
    finally:
        await stop_hub(running)


async def credentials_of(name: str) -> DeviceCredentials:
    device = await Device.get(name=name)
    return await DeviceCredentials.get(device_id=device.id)


async def test_four_seed_scripts_provision_and_connect(hub, tmp_path):
    python = seed_python_or_skip()
    x509_dir = tmp_path / "x509"
    x509_dir.mkdir()
    shutil.copy(hub.hub.settings.data_dir / "tls" / "server.pem", x509_dir / "mqttserver.pub.pem")
    common = [hub.key, hub.secret]
    runs = {
        "mqtt_server_token.py": ["127.0.0.1", hub.mqtt_port, *common, "seed-mqtt-server"],
        "mqtt_device_token.py": ["127.0.0.1", hub.mqtt_port, *common, "seed-mqtt-token", "seed-mqtt-device"],
        "mqtt_basic.py": ["127.0.0.1", hub.mqtt_port, *common, "seed-mqtt-basic", "seed-cid", "seed-user", "seed-pw"],
        "mqtt_x509.py": ["localhost", hub.mqtts_port, *common, "seed-mqtt-x509"],
    }
    outputs = await asyncio.gather(*(
        run_until(python, SCRIPTS / script, answers, x509_dir if "x509" in script else tmp_path / script, CONNECTED)
        for script, answers in runs.items()))
    for (script, _), out in zip(runs.items(), outputs):
        assert CONNECTED in out and "Cannot connect" not in out, f"{script}:\n{out}"
    assert "Provisioning success! Certificates are saved." in outputs[3], outputs[3]
    assert "credentials: seed-mqtt-token" in outputs[1]
    assert (await credentials_of("seed-mqtt-server")).credentials_type == "ACCESS_TOKEN"
    assert (await credentials_of("seed-mqtt-device")).credentials_id == "seed-mqtt-token"
    assert json.loads((await credentials_of("seed-mqtt-basic")).credentials_value)["clientId"] == "seed-cid"
    assert (await credentials_of("seed-mqtt-x509")).credentials_type == "X509_CERTIFICATE"


async def test_seed_script_wrong_secret_is_told_not_found(hub, tmp_path):
    python = seed_python_or_skip()
    out = await run_until(python, SCRIPTS / "mqtt_server_token.py",
                          ["127.0.0.1", hub.mqtt_port, hub.key, "wrong", "seed-nope"], tmp_path, "Provision data")
    assert "NOT_FOUND" in out and "Provision data was not found!" in out, out


TB_PROVISION = """
import json, sys
from tb_device_mqtt import TBDeviceMqttClient
port, key, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3]
print(json.dumps(TBDeviceMqttClient.provision("127.0.0.1", key, secret, port=port, device_name="tb-sdk-1")))
print(json.dumps(TBDeviceMqttClient.provision("127.0.0.1", key, secret, port=port, device_name="tb-sdk-2",
                                              client_id="tb-cid", username="tb-user", password="tb-pw")))
"""


async def test_tb_mqtt_client_provision(hub):
    if not TB_PYTHON.exists():
        pytest.skip(f"{TB_PYTHON} missing: run `make test` (tests/setup_clients.sh builds it)")
    proc = await asyncio.create_subprocess_exec(str(TB_PYTHON), "-c", TB_PROVISION, hub.mqtt_port, hub.key, hub.secret,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    token_reply, basic_reply = (json.loads(line) for line in out.decode().splitlines()[-2:])
    assert token_reply["status"] == "SUCCESS" and token_reply["credentialsType"] == "ACCESS_TOKEN", token_reply
    assert basic_reply["credentialsValue"] == {"clientId": "tb-cid", "userName": "tb-user", "password": "tb-pw"}
    assert (await credentials_of("tb-sdk-1")).credentials_id == token_reply["credentialsValue"]
