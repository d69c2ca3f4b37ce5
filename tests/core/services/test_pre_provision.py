"""The ``pre_provision`` hook over real HTTP provisioning: a test plugin registered on
the hub's plugin manager allows, denies, overrides (name, label, attributes, customer),
answers synchronously or fails (fail-open / fail-closed); a device that already exists
never asks it. Decoding hook answers is fuzzed: only PreProvisionError comes out."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridlinks.core import hookimpl
from gridlinks.core.config import DEFAULT_PLUGINS
from gridlinks.core.services.bootstrap import default_tenant
from gridlinks.core.services.pre_provision import (
    FAIL_MODE,
    FAIL_OPEN,
    Overrides,
    PreProvisionDecision,
    PreProvisionError,
    public_request,
)
from gridlinks.core.services.provisioning import FAILURE_BODY
from gridlinks.core.storage.models import Attribute, Device, Scope
from gridlinks.core.types import ProvisionRequest
from tests.support import hub_config, provision_named, start_hub, stop_hub


class HookPlugin:
    """Answers with whatever the test put in ``answer`` (a decision, an exception, a coroutine factory)."""

    def __init__(self):
        self.answer = None
        self.seen: list[tuple[ProvisionRequest, str]] = []

    @hookimpl
    def pre_provision(self, hub, request, profile, plan):
        self.seen.append((request, profile.name))
        answer = self.answer
        if callable(answer):
            return answer()
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
async def hooked(tmp_path):
    plugin = HookPlugin()
    running = await start_hub(hub_config(tmp_path / "data", plugins=[*DEFAULT_PLUGINS, "test_hook"]),
                              extra_plugins={"test_hook": plugin})
    running.plugin = plugin
    running.profile = await running.hub.profiles.by_provision_key(running.key)
    try:
        yield running
    finally:
        await stop_hub(running)




async def _reasons(running, action="provision_failed"):
    status, page = await running.admin("GET", f"/api/audit/logs?action={action}")
    assert status == 200
    return [(e.get("deviceName"), e.get("reason") or (e.get("details") or {}).get("reason")) for e in page["data"]]


async def _allow_and_no_opinion_create_the_device(hooked):
    async def allow():
        return PreProvisionDecision.allow()

    hooked.plugin.answer = allow
    assert (await provision_named(hooked, "allowed-1", token="tok-allowed-1"))["status"] == "SUCCESS"
    request, profile = hooked.plugin.seen[-1]
    assert request.device_name == "allowed-1" and profile == hooked.profile.name
    assert "token" not in public_request(request) and "provisionDeviceSecret" not in public_request(request)
    nested = ProvisionRequest(device_name="n", key="k", secret="s", credentials_type="X509_CERTIFICATE", fields={
        "deviceName": "n", "csr": "-----BEGIN CERTIFICATE REQUEST-----", "extra": {"clientSecret": "x", "ok": [
            "-----BEGIN PRIVATE KEY-----", {"password": "p", "keep": 1}]}})
    assert public_request(nested) == {"deviceName": "n", "csr": "-----BEGIN CERTIFICATE REQUEST-----",
                                      "extra": {"ok": [{"keep": 1}]}, "credentialsType": "X509_CERTIFICATE"}
    hooked.plugin.answer = None
    assert (await provision_named(hooked, "allowed-2"))["status"] == "SUCCESS"


async def _deny_is_failure_audited_with_the_reason(hooked):
    hooked.plugin.answer = PreProvisionDecision.deny("not on the list", source="test")  # synchronous answer
    assert await provision_named(hooked, "denied-1") == FAILURE_BODY
    assert not await Device.filter(name="denied-1").exists()
    assert ("denied-1", "pre-provisioning hook denied: test: not on the list") in await _reasons(hooked)


async def _overrides_name_label_attributes_customer(hooked):
    customer = await hooked.hub.customers.create(await default_tenant(), "Acme")

    async def override():
        return PreProvisionDecision.allow(Overrides.from_json(
            {"name": "renamed-1", "label": "Hall 7", "attributes": {"site": "north", "rack": 4},
             "customer": "Acme"}))

    hooked.plugin.answer = override
    body = await provision_named(hooked, "asked-name")
    assert body["status"] == "SUCCESS" and body["deviceName"] == "renamed-1"
    device = await Device.get(name="renamed-1")
    assert device.label == "Hall 7" and device.customer_id == customer.id
    attrs = {a.key: a for a in await Attribute.filter(device_id=device.id, scope=Scope.SERVER)}
    assert {"site", "rack", "provisionState"} <= set(attrs)
    assert not await Device.filter(name="asked-name").exists()
    assert ("renamed-1", "overrides: name, label, attributes, customer") in await _reasons(
        hooked, "pre_provision_decided")
    # The token works: the device was really provisioned.
    status, _ = await hooked.post(f"/api/v1/{body['credentialsValue']}/telemetry", json={"t": 1})
    assert status == 200


async def _unknown_customer_fails_closed_and_leaves_nothing(hooked):
    hooked.plugin.answer = PreProvisionDecision.allow(Overrides(customer="nobody"))
    assert await provision_named(hooked, "orphan-1") == FAILURE_BODY
    assert not await Device.filter(name="orphan-1").exists()


async def _failing_hook_follows_the_profile_fail_mode(hooked):
    async def slow():
        await asyncio.sleep(5)

    hooked.hub.pre_provision.timeout_s = 0.3
    for answer in (RuntimeError("boom"), slow):
        hooked.plugin.answer = answer
        await hooked.hub.profiles.update(hooked.profile, config={})
        assert await provision_named(hooked, "closed-1") == FAILURE_BODY  # fail-closed by default
        await hooked.hub.profiles.update(hooked.profile, config={FAIL_MODE: FAIL_OPEN})
        name = f"open-{type(answer).__name__}"
        assert (await provision_named(hooked, name))["status"] == "SUCCESS"
        reasons = dict(await _reasons(hooked, "pre_provision_decided"))
        assert "fail-open" in reasons[name]
    reasons = [r for _, r in await _reasons(hooked)]
    assert any("fail-closed" in r and "boom" in r for r in reasons)
    assert any("fail-closed" in r and "no answer within 0.3 s" in r for r in reasons)


async def _existing_device_never_asks_the_hook(hooked):
    await hooked.hub.profiles.update(hooked.profile, provision_type="CHECK_PRE_PROVISIONED_DEVICES")
    await hooked.hub.devices.create(await default_tenant(), hooked.profile, "known-1")
    hooked.plugin.answer = PreProvisionDecision.deny("no")
    assert (await provision_named(hooked, "known-1"))["status"] == "SUCCESS"
    assert hooked.plugin.seen == []


async def test_hook_allows_denies_and_overrides(hooked):
    await _allow_and_no_opinion_create_the_device(hooked)
    await _deny_is_failure_audited_with_the_reason(hooked)
    await _overrides_name_label_attributes_customer(hooked)
    await _unknown_customer_fails_closed_and_leaves_nothing(hooked)


async def test_hook_failures_and_existing_devices(hooked):
    await _failing_hook_follows_the_profile_fail_mode(hooked)
    hooked.plugin.seen.clear()
    await _existing_device_never_asks_the_hook(hooked)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=3), max_leaves=8)
answers = st.dictionaries(st.sampled_from(["allow", "reason", "overrides", "x"]), json_values, max_size=4) | \
    st.fixed_dictionaries({"allow": st.booleans(), "overrides": st.dictionaries(
        st.sampled_from(["name", "label", "attributes", "customer", "y"]), json_values, max_size=4)}) | json_values


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers)
def test_any_answer_decodes_or_is_a_pre_provision_error(answer):
    try:
        decision = PreProvisionDecision.from_json(answer)
    except PreProvisionError:
        return
    assert decision.action in ("allow", "deny")
