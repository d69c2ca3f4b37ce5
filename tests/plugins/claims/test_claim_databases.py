"""The claim round trip on both databases: the device looked up in plain SQL (its
placeholders differ between SQLite and PostgreSQL), assigned, and the successful claim's
audit row committed in the same unit, exactly once."""

from __future__ import annotations

import pytest

from tests.claim_support import audit_outcomes, claim, customer_user, new_device
from tests.support import hub_config, start_hub, stop_hub


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_claim_round_trip_and_its_audit_row(tmp_path, db_url):
    running = await start_hub(hub_config(tmp_path / "data", db_url=db_url))
    try:
        _, token = await new_device(running, "meter-1")
        customer_id, user = await customer_user(running, "Customer A", "a@customer.test")
        assert (await running.post(f"/api/v1/{token}/claim", json={"secretKey": "s3"}))[0] == 200
        assert (await claim(running, user, "no-such-device", "s3"))[0] == 404
        status, body = await claim(running, user, "meter-1", "s3")
        assert status == 200 and body["response"] == "SUCCESS", body
        assert body["device"]["name"] == "meter-1"
        assert body["device"]["customerId"]["id"] == customer_id
        assert (await claim(running, user, "meter-1", "s3")) == (400, "CLAIMED")
        assert await audit_outcomes(running, "device_claimed") == ["NOT_FOUND", "SUCCESS", "CLAIMED"]
    finally:
        await stop_hub(running)
