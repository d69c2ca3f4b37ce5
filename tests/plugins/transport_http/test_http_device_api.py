"""The HTTP device API's status codes and its behaviour on bad input."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridlinks.core.storage.models import Device, LatestValue, TimeseriesValue


async def provisioned_token(running, name="dev"):
    status, body = await running.provision(deviceName=name, provisionDeviceKey=running.key,
                                           provisionDeviceSecret=running.secret)
    return body["credentialsValue"]


async def test_unknown_token_is_401_with_empty_body(running):
    for path in ("telemetry", "attributes"):
        status, body = await running.post(f"/api/v1/nope/{path}", json={"a": 1})
        assert (status, body) == (401, None)
    assert await running.get("/api/v1/nope/attributes") == (401, None)


async def test_success_is_200_with_empty_body(running):
    token = await provisioned_token(running)
    assert await running.post(f"/api/v1/{token}/telemetry", json={"temperature": 21.5}) == (200, None)
    assert await running.post(f"/api/v1/{token}/attributes", json={"fw": "1"}) == (200, None)
    assert await LatestValue.filter(key="temperature").count() == 1


async def test_telemetry_shapes(running):
    token = await provisioned_token(running)
    await running.post(f"/api/v1/{token}/telemetry", json={"a": 1, "b": "x"})
    await running.post(f"/api/v1/{token}/telemetry", json={"ts": 1000, "values": {"a": 2}})
    await running.post(f"/api/v1/{token}/telemetry", json=[{"ts": 2000, "values": {"a": 3}}, {"c": True}])
    assert await TimeseriesValue.filter(key="a").count() == 3
    # the newest timestamp wins for the latest value, whatever the arrival order
    latest = await LatestValue.get(key="a")
    assert latest.value == 1


async def test_bad_json_is_400_with_json_body(running):
    token = await provisioned_token(running)
    for path in ("/api/v1/provision", f"/api/v1/{token}/telemetry", f"/api/v1/{token}/attributes"):
        status, body = await running.post(path, data=b"{not json")
        assert status == 400 and body["status"] == 400 and "not valid JSON" in body["message"], (path, body)
    status, body = await running.post(f"/api/v1/{token}/telemetry", json=[1, 2])
    assert status == 400
    status, body = await running.post(f"/api/v1/{token}/attributes", json=["a"])
    assert status == 400


async def test_missing_or_mistyped_provision_fields_are_400(running):
    for payload in ({}, {"provisionDeviceKey": "k"}, {"provisionDeviceSecret": "s"}, [], "x",
                    {"provisionDeviceKey": 1, "provisionDeviceSecret": "s"},
                    {"provisionDeviceKey": "k", "provisionDeviceSecret": "s", "gateway": "yes"}):
        status, body = await running.post("/api/v1/provision", json=payload)
        assert status == 400 and isinstance(body, dict) and body["status"] == 400, (payload, body)


async def test_oversized_payloads_are_413_and_write_nothing(running):
    token = await provisioned_token(running)
    huge = json.dumps({"k": "x" * 70000})
    status, body = await running.post(f"/api/v1/{token}/telemetry", data=huge)
    assert status == 413 and body["status"] == 413
    status, body = await running.post("/api/v1/provision", data=json.dumps(
        {"provisionDeviceKey": running.key, "provisionDeviceSecret": running.secret, "deviceName": "y" * 70000}))
    assert status == 413
    assert await TimeseriesValue.all().count() == 0
    assert await Device.all().count() == 1


async def test_unknown_route_is_json_404(running):
    status, body = await running.get("/api/nothing-here")
    assert status == 404 and body["errorCode"] == 32


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                           max_leaves=12)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(payload=json_values | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_arbitrary_bodies_never_500(running_sync, payload):
    """Whatever a device sends, the answer is a 2xx/4xx, never a 500 or a hang."""
    for status in running_sync(payload):
        assert status < 500, (payload, status)
