"""``gridlinks customer|role|group`` commands, run in-process on a temporary data dir,
then checked by asking a hub on that data dir what the user may do."""

import asyncio
import os

import pytest

from gridlinks.core.cli.main import main
from gridlinks.core.config import HubConfig
from gridlinks.core.hub import Hub
from gridlinks.core.services.auth import Principal
from gridlinks.core.services.permissions import Operation, Resource
from gridlinks.core.storage.models import User


@pytest.fixture
def gridlinks(tmp_path, monkeypatch, capsys):
    for key in [k for k in os.environ if k.startswith("GRIDLINKS_")]:
        monkeypatch.delenv(key)
    data = tmp_path / "data"

    def run(*args):
        code = main([*args, "--data-dir", str(data)])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    run.data = data
    return run


async def _may_claim(data_dir, email, **claim):
    hub = Hub(HubConfig({"data_dir": str(data_dir), "claim": claim}, environ={}))
    await hub.open()
    try:
        user = await User.get(email=email)
        who = Principal(user.id, user.email, user.authority, user.tenant_id, user.customer_id)
        return await hub.permissions.allows(who, Resource.DEVICE, Operation.CLAIM_DEVICES)
    finally:
        await hub.stop()


def test_customer_role_and_group_commands(gridlinks):
    assert gridlinks("init", "--admin-email", "ops@site.test", "--admin-password", "pw-123456")[0] == 0
    code, out = gridlinks("customer", "add", "--title", "Acme")
    assert code == 0 and "Acme" in out
    code, out = gridlinks("customer", "add", "--title", "Acme")
    assert code == 1 and "already exists" in out
    assert gridlinks("user", "add", "--email", "ann@acme.test", "--password", "pw-123456", "--role", "customer-user",
                     "--customer", "Acme")[0] == 0
    code, out = gridlinks("role", "add", "--name", "Claimers", "--permission", "device:claim")
    assert code == 1 and "unknown operation 'CLAIM'" in out
    assert gridlinks("user", "add", "--email", "bob@acme.test", "--password", "pw-123456", "--role", "customer-user",
                     "--customer", "Acme")[0] == 0
    assert gridlinks("role", "add", "--name", "Claimers", "--permission", "DEVICE:CLAIM_DEVICES")[0] == 0
    assert gridlinks("group", "add", "--name", "Claiming users", "--customer", "Acme")[0] == 0
    code, out = gridlinks("group", "add-user", "--group", "Claiming users", "--email", "nobody@acme.test")
    assert code == 1 and "no user" in out
    assert gridlinks("group", "add-user", "--group", "Claiming users", "--email", "ann@acme.test")[0] == 0
    assert gridlinks("group", "grant", "--group", "Claiming users", "--role", "Claimers")[0] == 0
    code, out = gridlinks("customer", "list")
    assert code == 0 and "Acme" in out

    # The role grants what the authority default no longer does, and only to the group's members.
    assert asyncio.run(_may_claim(gridlinks.data, "ann@acme.test", customer_users_can_claim=False))
    assert not asyncio.run(_may_claim(gridlinks.data, "bob@acme.test", customer_users_can_claim=False))
    assert asyncio.run(_may_claim(gridlinks.data, "bob@acme.test"))


async def _allows_gateways(data_dir, name):
    from gridlinks.core.services.profiles import allows_gateways
    from gridlinks.core.storage.models import DeviceProfile

    hub = Hub(HubConfig({"data_dir": str(data_dir)}, environ={}))
    await hub.open()
    try:
        return allows_gateways(await DeviceProfile.get(name=name))
    finally:
        await hub.stop()


def test_profile_create_allow_gateways(gridlinks):
    assert gridlinks("init", "--admin-email", "ops@site.test", "--admin-password", "pw-123456")[0] == 0
    assert gridlinks("profile", "create", "--name", "Gateways", "--strategy", "allow-create",
                     "--allow-gateways")[0] == 0
    assert gridlinks("profile", "create", "--name", "Sensors", "--strategy", "allow-create")[0] == 0
    assert asyncio.run(_allows_gateways(gridlinks.data, "Gateways")) is True
    assert asyncio.run(_allows_gateways(gridlinks.data, "Sensors")) is False
