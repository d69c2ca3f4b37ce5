"""Reference clients against the hub, unchanged, each in its own virtualenv built by
tests/setup_clients.sh: tb-rest-client (.venv-tbrest) sends a device's claim info, logs
in as a customer user, claims and re-claims through its DeviceController calls; the seed
guide's claiming example runs on tb-mqtt-client 1.7.1 (.venv-tbmqtt)."""

import json
from pathlib import Path

import pytest

from tests.claim_support import (
    PASSWORD,
    bind_to_gateway,
    claim,
    customer_user,
    gateway_profile,
    new_device,
    new_gateway,
    wait_for_outcomes,
)
from tests.support import REPO, run_script

TBREST_PYTHON = REPO / ".venv-tbrest" / "bin" / "python"
SCRIPTS = Path(__file__).resolve().parent / "claim_clients"


def client_python(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} missing: run `make test` (tests/setup_clients.sh builds it)")
    return path


async def test_tb_rest_client_claims_and_reclaims(running, tmp_path):
    python = client_python(TBREST_PYTHON)
    device_id, token = await new_device(running, "Test Claiming Device")
    customer_id, _ = await customer_user(running, "Customer A", "a@customer.test")
    settings = [running.base_url, "a@customer.test", PASSWORD, "Test Claiming Device", token, "qr-secret"]
    code, out = await run_script(SCRIPTS / "tbrest_claim.py", settings, tmp_path, python=python)
    assert code == 0, out
    steps = {s["step"]: s for s in (json.loads(line) for line in out.splitlines() if line.startswith("{"))}
    assert steps["device_claim_info"]["status"] == 200, out
    assert steps["wrong_secret"]["status"] == 400 and json.loads(steps["wrong_secret"]["body"]) == "FAILURE"
    claimed = steps["claim"]
    assert claimed["status"] == 200 and claimed["result"]["response"] == "SUCCESS", out
    assert claimed["result"]["device"]["customerId"]["id"] == customer_id
    assert steps["claim_again"]["status"] == 400 and json.loads(steps["claim_again"]["body"]) == "CLAIMED"
    assert steps["unknown"]["status"] == 404 and json.loads(steps["unknown"]["body"])["errorCode"] == 32
    assert steps["reclaim"]["status"] == 200, out
    status, device = await running.admin("GET", f"/api/device/{device_id}")
    assert device["customerId"]["id"] == "13814000-1dd2-11b2-8080-808080808080"


TBMQTT_PYTHON = REPO / ".venv-tbmqtt" / "bin" / "python"
SEED = REPO.parent / "shared" / "seeds" / "002_0901e128a5fe1b3e.txt"
SEED_LINES = (190, 236)  # the basic claiming example in the seed guide, 1-based


def test_claiming_script_is_the_seed_verbatim():
    if not SEED.exists():
        pytest.skip(f"{SEED} not here")
    first, last = SEED_LINES
    lines = SEED.read_text(encoding="utf-8").splitlines(keepends=True)[first - 1:last]
    assert (SCRIPTS / "basic_claiming_example.py").read_text(encoding="utf-8") == "".join(lines)


async def test_seed_claiming_script_with_tb_mqtt_client(running, tmp_path):
    """seeds/002's basic claiming example, unchanged, on tb-mqtt-client 1.7.1 (the newest
    whose TBDeviceMqttClient speaks MQTT 3.1.1); then a customer claims with its secret."""
    python = client_python(TBMQTT_PYTHON)
    device_id, token = await new_device(running, "Test Claiming Device")
    customer_id, user = await customer_user(running, "Customer A", "a@customer.test")
    port = running.hub.transports.get("mqtt").settings.port
    answers = [str(port), "basic_claiming_example.py", "127.0.0.1", token, "Eypdinl1", "60000"]
    code, out = await run_script(SCRIPTS / "with_mqtt_port.py", answers, tmp_path, python=python)
    assert code == 0 and "Claiming request was sent" in out, out
    assert await wait_for_outcomes(running, "claim_registered", 1) == ["SUCCESS"]
    status, body = await claim(running, user, "Test Claiming Device", "Eypdinl1")
    assert status == 200 and body["device"]["customerId"]["id"] == customer_id, body


async def test_gateway_claims_with_tb_gateway_mqtt_client(running, tmp_path):
    python = client_python(TBMQTT_PYTHON)
    gateway_id, gw_token, _ = await new_gateway(running, "gateway-1", *await gateway_profile(running))
    for name in ("meter-1", "meter-2"):
        device_id, _ = await new_device(running, name)
        await bind_to_gateway(running, device_id, gateway_id)
    _, user = await customer_user(running, "Customer A", "a@customer.test")
    port = running.hub.transports.get("mqtt").settings.port
    answers = [str(port), gw_token, "meter-1,s1", "meter-2,s2", ""]
    code, out = await run_script(SCRIPTS / "tbmqtt_gw_claim.py", answers, tmp_path, python=python)
    assert code == 0 and "2 devices, rc 0" in out, out
    assert await wait_for_outcomes(running, "claim_registered", 2) == ["SUCCESS", "SUCCESS"]
    assert (await claim(running, user, "meter-1", "s1"))[0] == 200
    assert (await claim(running, user, "meter-2", "s2"))[0] == 200
