"""Plugins: built-ins and third-party packages are found through the `gridlinks`
entry-point group and run only when the config enables them."""

import pytest

from gridlinks.core import hookimpl
from gridlinks.core.config import DEFAULT_PLUGINS
from gridlinks.core.errors import ConfigError
from gridlinks.core.hub import Hub
from gridlinks.core.plugins import available_plugins
from tests.support import hub_config, start_hub, stop_hub


def test_builtins_are_entry_points():
    installed = available_plugins()
    for name in DEFAULT_PLUGINS:
        assert name in installed, name
    assert installed["example_psk"].value == "gridlinks_example_plugin"


async def test_installed_plugin_is_not_enabled_until_configured(tmp_path):
    hub = Hub(hub_config(tmp_path))
    await hub.open()
    try:
        assert "PRE_SHARED_KEY" not in hub.credential_types
    finally:
        await hub.stop()


async def test_third_party_plugin_adds_a_credential_type(tmp_path):
    running = await start_hub(hub_config(tmp_path, plugins=[*DEFAULT_PLUGINS, "example_psk"]))
    try:
        assert "PRE_SHARED_KEY" in running.hub.credential_types
        status, body = await running.provision(deviceName="psk-1", provisionDeviceKey=running.key,
                                               provisionDeviceSecret=running.secret,
                                               credentialsType="PRE_SHARED_KEY", psk="correct horse")
        assert status == 200 and body["status"] == "SUCCESS", body
        assert body["credentialsType"] == "PRE_SHARED_KEY"
        assert body["credentialsValue"]["pskId"].startswith("psk:")
        status, body = await running.provision(deviceName="psk-2", provisionDeviceKey=running.key,
                                               provisionDeviceSecret=running.secret,
                                               credentialsType="PRE_SHARED_KEY", psk="short")
        assert body["status"] == "FAILURE"
    finally:
        await stop_hub(running)


async def test_enabled_but_not_installed_fails_startup(tmp_path):
    hub = Hub(hub_config(tmp_path, plugins=["http", "no_such_plugin"]))
    with pytest.raises(ConfigError, match="no_such_plugin"):
        await hub.open()


async def test_duplicate_registration_fails_startup(tmp_path):
    class Clash:
        @hookimpl
        def register_credential_types(self, hub, register):
            class Token:
                name = "ACCESS_TOKEN"
            register(Token())

    hub = Hub(hub_config(tmp_path, plugins=["access_token", "clash"]), extra_plugins={"clash": Clash()})
    with pytest.raises(ConfigError, match="ACCESS_TOKEN.*twice"):
        await hub.open()


async def test_unclaimed_config_section_fails_startup(tmp_path):
    hub = Hub(hub_config(tmp_path, nosuchplugin={"port": 1}))
    with pytest.raises(ConfigError, match="nosuchplugin"):
        await hub.open()


async def test_plugin_services_are_found_by_their_own_name(tmp_path):
    """Dynamic registration's service sits in hub.services (its CLI and admin API look
    there); disabled, the name is simply absent."""
    hub = Hub(hub_config(tmp_path))
    await hub.open()
    try:
        service = hub.services["dynamic_registration"]
        assert callable(service.product) and callable(service.reset)
    finally:
        await hub.stop()
    hub = Hub(hub_config(tmp_path, plugins=["access_token"]))
    await hub.open()
    try:
        assert hub.services.get("dynamic_registration") is None
    finally:
        await hub.stop()


async def test_a_service_name_registered_twice_fails_startup(tmp_path):
    class Clash:
        @hookimpl
        def register_services(self, hub, register):
            register(object(), name="dynamic_registration")

    hub = Hub(hub_config(tmp_path, plugins=["dynamic_registration", "clash"]), extra_plugins={"clash": Clash()})
    with pytest.raises(ConfigError, match="service 'dynamic_registration' is registered twice"):
        await hub.open()
