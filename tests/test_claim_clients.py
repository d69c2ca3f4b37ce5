"""Reference clients against the hub, unchanged: tb-rest-client (own virtualenv,
.venv-tbrest, built by tests/setup_clients.sh) sends a device's claim info, logs in as a
customer user, claims and re-claims through its DeviceController calls."""

import json
from pathlib import Path

import pytest

from tests.claim_support import PASSWORD, customer_user, new_device
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
