"""The seed's two HTTP example scripts, run unchanged against a hub the test starts:
each provisions a device and posts telemetry with the credentials it received."""

from pathlib import Path

from gridlinks.core.storage.models import Device, LatestValue
from tests.support import run_script, seed_python_or_skip

SCRIPTS = Path(__file__).resolve().parent / "seed_scripts"


async def run_http_seed(running, tmp_path, script: str, *answers: str) -> str:
    """Run a seed HTTP script, typing host and port, then ``answers``, at its prompts."""
    code, out = await run_script(SCRIPTS / script, ["http://127.0.0.1", running.base_url.rsplit(":", 1)[1], *answers],
                                 tmp_path, python=seed_python_or_skip())
    assert code == 0, out
    return out


async def test_http_server_generated_token(running, tmp_path):
    out = await run_http_seed(running, tmp_path, "http_server_token.py", running.key, running.secret, "seed-http-1")
    assert "'status': 'SUCCESS'" in out and "\n200\n" in out, out
    device = await Device.get(name="seed-http-1")
    assert await LatestValue.filter(device_id=device.id, key="stringKey").exists()


async def test_http_device_supplied_token(running, tmp_path):
    out = await run_http_seed(running, tmp_path, "http_device_token.py", running.key, running.secret,
                              "seed-token-abc", "seed-http-2")
    assert "'credentialsValue': 'seed-token-abc'" in out and "\n200\n" in out, out
    device = await Device.get(name="seed-http-2")
    assert await LatestValue.filter(device_id=device.id, key="jsonKey").exists()


async def test_http_script_with_wrong_secret_reports_the_error(running, tmp_path):
    out = await run_http_seed(running, tmp_path, "http_server_token.py", running.key, "wrong", "")
    assert "Provision data was not found!" in out, out
