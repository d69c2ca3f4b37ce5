async def test_health_and_provision(running):
    status, body = await running.get("/api/health")
    assert status == 200 and body == {"status": "UP"}
    status, body = await running.provision(deviceName="d1", provisionDeviceKey=running.key,
                                           provisionDeviceSecret=running.secret)
    assert status == 200 and body["status"] == "SUCCESS", body
