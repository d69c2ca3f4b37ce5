"""schemathesis against a running hub (real socket), driven by the hub's own OpenAPI document:
no 5xx, and every answer matches what the document says (status code, content type, body
schema). Signed in as the tenant admin (X-Authorization), so the admin API is exercised past
its 401. Bounded: the fuzzing phase, a few examples per operation (about a minute)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from tests.support import hub_config, start_hub, stop_hub

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
MAX_EXAMPLES = 4
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"


@pytest.mark.timeout(240)
async def test_schemathesis_finds_no_5xx_and_no_answer_off_its_schema(tmp_path):
    if not SCHEMATHESIS.exists():
        pytest.skip(f"{SCHEMATHESIS} missing: `make install` installs the test dependencies")
    # Failed claims are held back (claim.backoff_*) to slow guessing: not what this test measures.
    running = await start_hub(hub_config(tmp_path / "data", claim={"backoff_base_s": 0}))
    try:
        proc = await asyncio.create_subprocess_exec(
            str(SCHEMATHESIS), "run", f"{running.base_url}/api/openapi.json", "--checks", CHECKS,
            "--header", f"X-Authorization: Bearer {running.admin_token}",
            "--phases", "fuzzing", "--max-examples", str(MAX_EXAMPLES), "--seed", "15", "--workers", "2",
            "--request-timeout", "20",
            # Signing out would end the session every later request is made with.
            "--exclude-path", "/api/auth/logout",
            cwd=str(tmp_path), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), 200)
        except TimeoutError:
            proc.kill()
            out, _ = await proc.communicate()
        text = out.decode("utf-8", "replace")
    finally:
        await stop_hub(running)
    assert proc.returncode == 0, text[-6000:]
    assert "Tested: " in text and "failures" not in text.split("SUMMARY")[-1], text[-3000:]
