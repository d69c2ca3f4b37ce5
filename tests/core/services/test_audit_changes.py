"""Changes people make reach the audit log through one mechanism: services fire ``Change``
events, the audit listener records them with the actor the firing task acts for (the
signed-in admin for the REST API, ``acting_as`` for the CLI); device traffic names nobody."""

from gridlinks.core.events import CustomerCreated, acting_as, current_actor
from gridlinks.core.services.bootstrap import default_tenant
from tests.support import ADMIN_EMAIL


async def _rows(running, action):
    status, body = await running.admin("GET", f"/api/audit/logs?action={action}&pageSize=100")
    assert status == 200, body
    return body["data"]


async def test_admin_api_changes_name_the_signed_in_admin_and_devices_name_nobody(running):
    status, device = await running.admin("POST", "/api/device", {"name": "api-dev-1", "type": "Demo profile"})
    assert status == 200, device
    status, _ = await running.admin("DELETE", f"/api/device/{device['id']['id']}")
    assert status == 200
    for action in ("device_created", "device_deleted"):
        rows = await _rows(running, action)
        assert [(r["actor"], r["outcome"], r["deviceName"]) for r in rows] == [(ADMIN_EMAIL, "SUCCESS", "api-dev-1")]
    status, body = await running.provision(deviceName="by-itself", provisionDeviceKey=running.key,
                                           provisionDeviceSecret=running.secret)
    assert status == 200 and body["status"] == "SUCCESS"
    assert [r["actor"] for r in await _rows(running, "device_provisioned")] == [""]
    assert current_actor() is None  # the request's actor stayed in the request's task


async def test_acting_as_names_the_actor_unless_the_event_does(running):
    hub = running.hub
    tenant = await default_tenant(hub)
    with acting_as("cli:ops"):
        await hub.customers.create(tenant, "From the CLI")
        profile = await hub.profiles.create(tenant, "CLI profile")
        await hub.profiles.delete(profile)
        await hub.bus.fire(CustomerCreated(tenant_id=str(tenant.id), customer="named", actor="someone@site"))
    assert current_actor() is None
    rows = {r["details"]["customer"]: r["actor"] for r in await _rows(running, "customer_created")}
    assert rows == {"From the CLI": "cli:ops", "named": "someone@site"}
    for action in ("profile_saved", "profile_deleted"):  # in the tenant's audit log, with the actor
        assert [(r["actor"], r["details"]["profile"]) for r in await _rows(running, action)
                if r["actor"]] == [("cli:ops", "CLI profile")]
