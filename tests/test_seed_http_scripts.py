"""The seed's two HTTP example scripts, run unchanged against a hub the test starts:
each provisions a device and posts telemetry with the credentials it received."""

from pathlib import Path

from gridlinks.core.models import Device, LatestValue
from tests.support import run_script, seed_python_or_skip

SCRIPTS = Path(__file__).resolve().parent / "seed_scripts"


async def test_http_server_generated_token(running, tmp_path):
    python = seed_python_or_skip()
    code, out = await run_script(SCRIPTS / "http_server_token.py",
                                 ["http://127.0.0.1", running.base_url.rsplit(":", 1)[1], running.key,
                                  running.secret, "seed-http-1"], tmp_path, python=python)
    assert code == 0, out
    assert "'status': 'SUCCESS'" in out and "\n200\n" in out, out
    device = await Device.get(name="seed-http-1")
    assert await LatestValue.filter(device_id=device.id, key="stringKey").exists()


async def test_http_device_supplied_token(running, tmp_path):
    python = seed_python_or_skip()
    code, out = await run_script(SCRIPTS / "http_device_token.py",
                                 ["http://127.0.0.1", running.base_url.rsplit(":", 1)[1], running.key,
                                  running.secret, "seed-token-abc", "seed-http-2"], tmp_path, python=python)
    assert code == 0, out
    assert "'credentialsValue': 'seed-token-abc'" in out and "\n200\n" in out, out
    device = await Device.get(name="seed-http-2")
    assert await LatestValue.filter(device_id=device.id, key="jsonKey").exists()


async def test_http_script_with_wrong_secret_reports_the_error(running, tmp_path):
    python = seed_python_or_skip()
    code, out = await run_script(SCRIPTS / "http_server_token.py",
                                 ["http://127.0.0.1", running.base_url.rsplit(":", 1)[1], running.key,
                                  "wrong", ""], tmp_path, python=python)
    assert code == 0 and "Provision data was not found!" in out, out
