"""What people type at the approval inbox: the profile flags (`gridlinks profile
create|update --approval/--pre-provision-fail-mode`, run in-process on a started hub)
and the REST inputs, fuzzed with hypothesis (any id, body or status filter: never a 5xx)."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridlinks.core.cli.main import build_parser
from gridlinks.core.services.bootstrap import default_tenant
from gridlinks.core.services.pre_provision import FAIL_MODE
from tests.support import hub_config, start_hub, stop_hub


async def test_profile_create_and_update_flags(running):
    parser = build_parser()
    args = parser.parse_args(["profile", "create", "--name", "Inbox", "--strategy", "allow-create",
                              "--approval", "manual"])
    assert await args.func(running.hub, args) == 0
    profile = await running.hub.profiles.by_name(await default_tenant(), "Inbox")
    assert profile.provision_config == {"approval": "manual"}
    args = parser.parse_args(["profile", "update", "--name", "Inbox", "--approval", "auto",
                              "--pre-provision-fail-mode", "fail-open"])
    assert await args.func(running.hub, args) == 0
    profile = await running.hub.profiles.by_name(await default_tenant(), "Inbox")
    assert profile.provision_config == {FAIL_MODE: "fail-open"}  # auto is the default: the member goes


def test_rest_inputs_never_answer_5xx(tmp_path_factory):
    loop = asyncio.new_event_loop()
    running = loop.run_until_complete(start_hub(hub_config(tmp_path_factory.mktemp("inbox") / "data")))
    try:
        async def park():
            profile = await running.hub.profiles.by_provision_key(running.key)
            await running.hub.profiles.update(profile, config={"approval": "manual"})
            await running.provision(deviceName="fuzz-1", provisionDeviceKey=running.key,
                                    provisionDeviceSecret=running.secret)
            return (await running.admin("GET", "/api/provision/pending"))[1]["data"][0]["id"]

        real_id = loop.run_until_complete(park())

        @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.function_scoped_fixture])
        @given(target=st.one_of(st.just(real_id), st.text(max_size=40)), body=st.binary(max_size=120),
               action=st.sampled_from(["approve", "reject"]), status=st.text(max_size=16))
        def check(target, body, action, status):
            async def go():
                headers = {"Content-Type": "application/json"}
                path = f"/api/provision/pending/{quote(target, safe='') or 'x'}/{action}"
                code, _ = await running.post(path, data=body, token=running.admin_token, headers=headers)
                listed, _ = await running.get(f"/api/provision/pending?status={quote(status)}",
                                              token=running.admin_token)
                return code, listed

            for code in loop.run_until_complete(asyncio.wait_for(go(), 30)):
                assert code < 500, (target, body, status)

        check()
    finally:
        loop.run_until_complete(stop_hub(running))
        loop.close()
