"""Customers, customer users and the permission model: CLAIM_DEVICES on DEVICE, held by
customer users by default, or granted through a role given to a user group."""

from tests.claim_support import claim, claim_hub, customer_user, login, new_device

FORBIDDEN_BODY = {"status": 403, "message": "You don't have permission to perform this operation!", "errorCode": 20}


async def test_customer_and_user_admin_api(running_db):
    running = running_db
    status, customer = await running.admin("POST", "/api/customer", {"title": "Acme"})
    assert status == 200 and customer["title"] == "Acme"
    cid = customer["id"]["id"]
    status, body = await running.admin("POST", "/api/customer", {"title": "Acme"})
    assert status == 400 and "already exists" in body["message"]
    status, body = await running.admin("POST", "/api/customer", {"title": "  "})
    assert status == 400
    status, page = await running.admin("GET", "/api/customers?pageSize=10")
    assert status == 200 and [c["title"] for c in page["data"]] == ["Acme"]
    status, body = await running.admin("POST", "/api/customer", {"id": {"id": cid}, "title": "Acme Corp"})
    assert status == 200 and body["title"] == "Acme Corp"
    assert (await running.admin("GET", "/api/customer/not-a-uuid"))[0] == 404

    status, user = await running.admin("POST", "/api/user", {
        "email": "Ann@Acme.test", "authority": "CUSTOMER_USER", "customerId": {"id": cid},
        "password": "ann-password", "firstName": "Ann"})
    assert status == 200 and user["email"] == "ann@acme.test" and user["customerId"]["id"] == cid
    status, body = await running.admin("POST", "/api/user", {
        "email": "x@acme.test", "authority": "TENANT_ADMIN", "customerId": {"id": cid}, "password": "pw-123456"})
    assert status == 400
    status, body = await running.admin("POST", "/api/user", {"email": "y@acme.test", "customerId": {"id": cid}})
    assert status == 400 and "password" in body["message"]
    status, page = await running.admin("GET", f"/api/customer/{cid}/users")
    assert [u["email"] for u in page["data"]] == ["ann@acme.test"]

    token = await login(running, "ann@acme.test", "ann-password")
    status, me = await running.get("/api/auth/user", token=token)
    assert me["authority"] == "CUSTOMER_USER" and me["customerId"]["id"] == cid
    # Customer users do not administer customers.
    status, body = await running.get("/api/customers", token=token)
    assert (status, body) == (403, FORBIDDEN_BODY)

    assert (await running.admin("DELETE", f"/api/user/{user['id']['id']}"))[0] == 200
    status, body = await running.post("/api/auth/login", json={"username": "ann@acme.test", "password": "ann-password"})
    assert status == 401 and body == {"status": 401, "message": "Invalid username or password", "errorCode": 10}
    assert (await running.admin("DELETE", f"/api/customer/{cid}"))[0] == 200
    assert (await running.admin("GET", f"/api/customer/{cid}"))[0] == 404


async def test_customer_users_claim_by_default(running):
    _, token = await new_device(running, "d")
    _, user = await customer_user(running, "Acme", "ann@acme.test")
    assert (await running.post(f"/api/v1/{token}/claim", json={}))[0] == 200
    assert (await claim(running, user, "d", ""))[0] == 200


async def test_tenant_admin_cannot_claim_without_a_customer(running):
    _, token = await new_device(running, "d")
    assert (await running.post(f"/api/v1/{token}/claim", json={}))[0] == 200
    status, body = await claim(running, running.admin_token, "d", "")
    assert status == 403 and "customer" in body["message"]


async def test_claim_devices_granted_through_a_role_and_group(tmp_path):
    async with claim_hub(tmp_path, customer_users_can_claim=False) as running:
        _, token = await new_device(running, "d")
        customer_id, user = await customer_user(running, "Acme", "ann@acme.test")
        _, other = await customer_user(running, "Acme", "bob@acme.test")
        assert (await running.post(f"/api/v1/{token}/claim", json={"secretKey": "s"}))[0] == 200
        # Without the permission: 403 with the reference body, and nothing is counted as a guess.
        assert await claim(running, user, "d", "s") == (403, FORBIDDEN_BODY)
        assert await claim(running, user, "missing", "s") == (403, FORBIDDEN_BODY)

        status, body = await running.admin("POST", "/api/role",
                                           {"name": "Claimers", "permissions": {"DEVICE": ["CLAIM"]}})
        assert status == 400 and "CLAIM" in body["message"]
        status, role = await running.admin("POST", "/api/role", {"name": "Claimers",
                                                                 "permissions": {"DEVICE": ["CLAIM_DEVICES"]}})
        assert status == 200, role
        status, group = await running.admin("POST", "/api/userGroup", {"name": "Claiming users",
                                                                       "customerId": {"id": customer_id}})
        assert status == 200, group
        gid, rid = group["id"]["id"], role["id"]["id"]
        status, users = await running.admin("GET", f"/api/customer/{customer_id}/users")
        ann = next(u["id"]["id"] for u in users["data"] if u["email"] == "ann@acme.test")
        status, group = await running.admin("POST", f"/api/userGroup/{gid}/addUsers", [ann])
        assert status == 200 and group["userIds"] == [ann]
        status, group = await running.admin("POST", f"/api/userGroup/{gid}/roles/{rid}")
        assert status == 200 and group["roleIds"] == [rid]

        assert await claim(running, other, "d", "s") == (403, FORBIDDEN_BODY)
        status, body = await claim(running, user, "d", "s")
        assert status == 200 and body["response"] == "SUCCESS"

        # Revoking the role takes the permission away again.
        assert (await running.delete(f"/api/userGroup/{gid}/roles/{rid}", token=running.admin_token))[0] == 200
        status, body = await running.delete("/api/customer/device/d/claim", token=user)
        assert (status, body) == (403, FORBIDDEN_BODY)
        status, listing = await running.admin("GET", "/api/userGroups")
        assert listing[0]["roleIds"] == [] and listing[0]["userIds"] == [ann]


async def test_group_of_a_customer_takes_only_its_users(running):
    _, _ = await customer_user(running, "Acme", "ann@acme.test")
    other_id, _ = await customer_user(running, "Other", "olga@other.test")
    status, acme = await running.admin("GET", "/api/customers?textSearch=Acme")
    status, group = await running.admin("POST", "/api/userGroup", {"name": "g", "customerId": acme["data"][0]["id"]})
    status, users = await running.admin("GET", f"/api/customer/{other_id}/users")
    olga = users["data"][0]["id"]["id"]
    status, body = await running.admin("POST", f"/api/userGroup/{group['id']['id']}/addUsers", [olga])
    assert status == 400 and "customer" in body["message"]
    status, body = await running.admin("POST", f"/api/userGroup/{group['id']['id']}/addUsers", {"not": "a list"})
    assert status == 400
