async def test_health_and_provision(running_db):
    running = running_db
    status, body = await running.get("/api/health")
    assert status == 200 and body == {"status": "UP"}
    status, body = await running.provision(deviceName="d1", provisionDeviceKey=running.key,
                                           provisionDeviceSecret=running.secret)
    assert status == 200 and body["status"] == "SUCCESS", body
    token = body["credentialsValue"]
    assert (await running.post(f"/api/v1/{token}/telemetry", json={"t": 1}))[0] == 200
    assert (await running.post(f"/api/v1/{token}/telemetry", json=[{"ts": 5, "values": {"t": 2}}]))[0] == 200
    assert (await running.post(f"/api/v1/{token}/attributes", json={"fw": "1.0"}))[0] == 200
    status, body = await running.get(f"/api/v1/{token}/attributes?clientKeys=fw")
    assert status == 200 and body == {"client": {"fw": "1.0"}}
    dev_id = (await running.admin("GET", "/api/tenant/devices?deviceName=d1"))[1]["id"]["id"]
    assert (await running.admin("POST", f"/api/plugins/telemetry/DEVICE/{dev_id}/attributes/SHARED_SCOPE",
                                {"target": 21}))[0] == 200
    status, body = await running.get(f"/api/v1/{token}/attributes")
    assert body == {"client": {"fw": "1.0"}, "shared": {"target": 21}}
    status, body = await running.admin("GET", f"/api/plugins/telemetry/DEVICE/{dev_id}/values/timeseries")
    assert status == 200 and body["t"][0]["value"] == 1, body
    status, body = await running.admin("GET", f"/api/plugins/telemetry/DEVICE/{dev_id}/values/attributes/SERVER_SCOPE")
    assert body[0]["key"] == "provisionState" and body[0]["value"] == "provisioned"
    status, body = await running.admin("GET", "/api/audit/logs?action=device_provisioned")
    assert status == 200 and body["totalElements"] == 1
