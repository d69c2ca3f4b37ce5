"""schemathesis against a running hub (real socket), driven by the hub's own OpenAPI document:
no 5xx, and every answer matches what the document says (status code, content type, body
schema). Signed in as the tenant admin (X-Authorization), so the admin API is exercised past
its 401. Bounded: the fuzzing phase, a few examples per operation (about a minute)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tests.support import hub_config, start_hub, stop_hub

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
# A longer run: GRIDLINKS_SCHEMATHESIS_EXAMPLES=50 GRIDLINKS_SCHEMATHESIS_PHASES=coverage,fuzzing
MAX_EXAMPLES = int(os.environ.get("GRIDLINKS_SCHEMATHESIS_EXAMPLES", "4"))
PHASES = os.environ.get("GRIDLINKS_SCHEMATHESIS_PHASES", "fuzzing")
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"


async def _known_values(running, config: Path) -> None:
    """Random ids and tokens only ever reach the 401/404 answers: a device (its token, id and
    name), the demo profile, a customer, a user group and a role are offered half of the time
    (schemathesis dictionaries, read from schemathesis.toml in the run's directory). Never the
    admin's own user id: revoking its sessions would end the run's sign-in."""
    status, body = await running.provision(deviceName="fuzzed", provisionDeviceKey=running.key,
                                           provisionDeviceSecret=running.secret)
    assert status == 200, body
    made = {}
    for path, payload in [("/api/customer", {"title": "Fuzzed customer"}), ("/api/userGroup", {"name": "Fuzzed"}),
                          ("/api/role", {"name": "Fuzzed", "permissions": {"DEVICE": ["CLAIM_DEVICES"]}})]:
        status, made[path] = await running.admin("POST", path, payload)
        assert status == 200, made[path]
    status, device = await running.admin("GET", f"/api/device/{body['deviceId']}")
    ids = [body["deviceId"], device["deviceProfileId"]["id"], made["/api/customer"]["id"]["id"],
           made["/api/userGroup"]["id"]["id"]]
    config.write_text(
        f"[dictionaries.tokens]\nvalues = {json.dumps([body['credentialsValue']])}\n"
        f"[dictionaries.ids]\nvalues = {json.dumps(ids)}\n"
        f"[dictionaries.roles]\nvalues = {json.dumps([made['/api/role']['id']['id']])}\n"
        f"[dictionaries.names]\nvalues = {json.dumps(['fuzzed'])}\n"
        "[parameters]\n"
        '"path.token" = { dictionary = "tokens", probability = 0.5 }\n'
        '"path.id" = { dictionary = "ids", probability = 0.5 }\n'
        '"path.roleId" = { dictionary = "roles", probability = 0.5 }\n'
        '"path.deviceName" = { dictionary = "names", probability = 0.5 }\n')


@pytest.mark.timeout(240 if MAX_EXAMPLES <= 4 and PHASES == "fuzzing" else 3600)
async def test_schemathesis_finds_no_5xx_and_no_answer_off_its_schema(tmp_path):
    if not SCHEMATHESIS.exists():
        pytest.skip(f"{SCHEMATHESIS} missing: `make install` installs the test dependencies")
    # Failed claims are held back (claim.backoff_*) to slow guessing: not what this test measures.
    running = await start_hub(hub_config(tmp_path / "data", claim={"backoff_base_s": 0}))
    try:
        await _known_values(running, tmp_path / "schemathesis.toml")
        proc = await asyncio.create_subprocess_exec(
            str(SCHEMATHESIS), "run", f"{running.base_url}/api/openapi.json", "--checks", CHECKS,
            "--header", f"X-Authorization: Bearer {running.admin_token}",
            "--phases", PHASES, "--max-examples", str(MAX_EXAMPLES), "--seed", "15", "--workers", "2",
            "--request-timeout", "20",
            # Signing out would end the session every later request is made with.
            "--exclude-path", "/api/auth/logout",
            cwd=str(tmp_path), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), 200 if MAX_EXAMPLES <= 4 else 3500)
        except TimeoutError:
            proc.kill()
            out, _ = await proc.communicate()
        text = out.decode("utf-8", "replace")
        (tmp_path / "schemathesis.out").write_text(text)  # the whole report, for a look after a failure
    finally:
        await stop_hub(running)
    assert proc.returncode == 0, text[-6000:]
    assert "Tested: " in text and "failures" not in text.split("SUMMARY")[-1], text[-3000:]
