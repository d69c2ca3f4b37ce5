"""The seed's two CoAP example scripts (aiocoap), run unchanged against a hub the test
starts: each provisions a device over CoAP and posts telemetry with the token it got.
Both run at once (each sleeps 2 s before its first request)."""

import asyncio
from pathlib import Path

from gridlinks.core.storage.models import Device, LatestValue
from gridlinks.plugins.transport_coap.server import CoapSettings
from tests.support import run_script, seed_python_or_skip

SCRIPTS = Path(__file__).resolve().parent / "seed_scripts"
SUCCESS_LINES = ("'status': 'SUCCESS'", "[THINGSBOARD CLIENT] Response from Thingsboard.", "2.01 Created")


async def test_coap_seed_scripts_provision_and_post_telemetry(running, tmp_path):
    python = seed_python_or_skip()
    port = str(running.hub.config.section("coap", CoapSettings).port)
    server_token, device_token, wrong_secret = await asyncio.gather(
        run_script(SCRIPTS / "coap_server_token.py",
                   ["127.0.0.1", port, running.key, running.secret, "seed-coap-1"], tmp_path, python=python),
        run_script(SCRIPTS / "coap_device_token.py",
                   ["127.0.0.1", port, running.key, running.secret, "seed-coap-token", "seed-coap-2"], tmp_path,
                   python=python),
        run_script(SCRIPTS / "coap_server_token.py",
                   ["127.0.0.1", port, running.key, "wrong", ""], tmp_path, python=python),
    )
    for (code, out), name, key in [(server_token, "seed-coap-1", "stringKey"),
                                   (device_token, "seed-coap-2", "jsonKey")]:
        assert code == 0, out
        assert all(line in out for line in SUCCESS_LINES) and "ERROR" not in out, out
        device = await Device.get(name=name)
        assert await LatestValue.filter(device_id=device.id, key=key).exists(), out
    assert "'credentialsValue': 'seed-coap-token'" in device_token[1]
    code, out = wrong_secret
    assert code == 0 and "Provision data was not found!" in out and "Response from Thingsboard" not in out, out
