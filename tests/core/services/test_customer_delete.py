"""Deleting a customer is one unit on the write path: its users go, its devices become
unassigned, on SQLite and PostgreSQL."""

from tests.claim_support import claim, customer_user, new_device


async def test_deleting_a_customer_removes_its_users_and_unassigns_its_devices(running_db):
    running = running_db
    device_id, token = await new_device(running, "owned-device")
    customer_id, user = await customer_user(running, "Gone Ltd", "gone@customer.test")
    assert (await running.post(f"/api/v1/{token}/claim", json={"secretKey": "s"}))[0] == 200
    status, body = await claim(running, user, "owned-device", "s")
    assert status == 200 and body["device"]["customerId"]["id"] == customer_id, body

    assert (await running.admin("DELETE", f"/api/customer/{customer_id}"))[0] == 200
    assert (await running.admin("GET", f"/api/customer/{customer_id}"))[0] == 404
    status, body = await running.post("/api/auth/login", json={"username": "gone@customer.test",
                                                                "password": "customer-password-1"})
    assert status == 401, body
    status, device = await running.admin("GET", f"/api/device/{device_id}")
    assert status == 200 and device["customerId"]["id"] == "13814000-1dd2-11b2-8080-808080808080", device
