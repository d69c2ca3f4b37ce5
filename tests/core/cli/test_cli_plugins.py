"""`gridlinks plugins` and commands added by plugins (the `register_commands` hook), run
as real processes; the third-party package in tests/example_plugin/ is installed in the
test environment and adds `gridlinks psk-device`."""

from __future__ import annotations

import importlib.metadata
import json

import pytest

from gridlinks.core.cli.commands import Command
from gridlinks.core.cli.main import build_parser
from gridlinks.core.config import DEFAULT_PLUGINS
from gridlinks.core.errors import ConfigError
from tests.cli_support import cli
from tests.support import hub_config, start_hub, stop_hub

WITH_EXAMPLE = {"GRIDLINKS_PLUGINS": ",".join([*DEFAULT_PLUGINS, "example_psk"])}


def plugins_json(data_dir, *args, env=None):
    return json.loads(cli(data_dir, "plugins", "--json", *args, env=env).stdout)


def test_plugins_lists_the_enabled_ones_in_config_order(tmp_path):
    listed = plugins_json(tmp_path)
    assert [p["name"] for p in listed] == DEFAULT_PLUGINS
    assert all(p["enabled"] for p in listed)
    version = importlib.metadata.version("gridlinks")
    assert {(p["distribution"], p["version"]) for p in listed} == {("gridlinks", version)}
    by_name = {p["name"]: p for p in listed}
    assert by_name["access_token"]["hooks"] == ["register_credential_types"]
    assert by_name["access_token"]["module"] == "gridlinks.plugins.credentials_token"
    assert {"register_commands", "register_services", "register_models"} <= set(
        by_name["dynamic_registration"]["hooks"])
    assert not (tmp_path / "hub.db").exists()  # listing plugins touches no data


def test_plugins_all_adds_installed_but_disabled_ones(tmp_path):
    listed = {p["name"]: p for p in plugins_json(tmp_path, "--all")}
    example = listed["example_psk"]
    assert example["enabled"] is False and example["error"] is None
    assert example["distribution"] == "gridlinks-example-plugin"
    assert example["version"] == importlib.metadata.version("gridlinks-example-plugin")
    assert example["hooks"] == ["register_commands", "register_credential_types"]
    assert listed["claim_store_redis"]["enabled"] is False
    assert all(listed[name]["enabled"] for name in DEFAULT_PLUGINS)


def test_plugins_follows_config_file_and_environment(tmp_path):
    config = tmp_path / "hub.yaml"
    config.write_text("plugins: [access_token, example_psk]\n")
    listed = plugins_json(tmp_path, "--config", str(config))
    assert [(p["name"], p["enabled"]) for p in listed] == [("access_token", True), ("example_psk", True)]
    text = cli(tmp_path, "plugins", env=WITH_EXAMPLE).stdout
    assert "example_psk  (gridlinks-example-plugin 0.1.0)  enabled" in text
    assert "dynamic_registration  (gridlinks " in text and "    register_commands" in text


def test_plugins_names_a_plugin_enabled_but_not_installed(tmp_path):
    result = cli(tmp_path, "plugins", env={"GRIDLINKS_PLUGINS": "http,no_such_plugin"}, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: plugin 'no_such_plugin' is enabled in the config but not installed")


def test_two_installed_plugins_with_one_name_stop_the_command(tmp_path):
    """A second package claiming the entry-point name `http` must not silently replace
    (or be replaced by) the built-in transport: every command refuses to start."""
    dist = tmp_path / "site" / "impostor-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: impostor\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[gridlinks]\nhttp = impostor_plugin\n")
    env = {"PYTHONPATH": str(tmp_path / "site")}
    for args in (("plugins",), ("profile", "list")):
        result = cli(tmp_path / "data", *args, env=env, check=False)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "two installed plugins are named 'http'" in result.stderr and "impostor_plugin" in result.stderr


def test_a_plugin_command_exists_only_while_the_plugin_is_enabled(tmp_path):
    assert "psk-device" not in cli(tmp_path, "--help").stdout
    absent = cli(tmp_path, "psk-device", "--psk", "correct horse", check=False)
    assert absent.returncode == 2 and "invalid choice: 'psk-device'" in absent.stderr
    help_text = cli(tmp_path, "--help", env=WITH_EXAMPLE).stdout
    assert "psk-device" in help_text and "which device holds a pre-shared key" in help_text
    sub_help = cli(tmp_path, "psk-device", "--help", env=WITH_EXAMPLE).stdout
    assert "--psk" in sub_help and "--data-dir" in sub_help and "--config" in sub_help


async def test_third_party_command_works_on_the_hubs_data(tmp_path):
    running = await start_hub(hub_config(tmp_path, plugins=[*DEFAULT_PLUGINS, "example_psk"]))
    try:
        _, body = await running.provision(deviceName="psk-1", provisionDeviceKey=running.key,
                                          provisionDeviceSecret=running.secret,
                                          credentialsType="PRE_SHARED_KEY", psk="correct horse")
        assert body["status"] == "SUCCESS", body
    finally:
        await stop_hub(running)
    found = cli(tmp_path, "psk-device", "--psk", "correct horse", env=WITH_EXAMPLE)
    assert found.stdout.strip() == "psk-1"
    missing = cli(tmp_path, "psk-device", "--psk", "wrong horse!", env=WITH_EXAMPLE, check=False)
    assert missing.returncode == 1 and "no device holds this key" in missing.stderr


async def _noop(hub, args) -> int:
    return 0


def test_a_plugin_adds_a_sub_command_to_a_core_group_or_a_new_group():
    parser = build_parser([Command("audit", _noop, group="profile", configure=lambda p: p.add_argument("--deep")),
                           Command("ping", _noop, group="fleet"), Command("hello", _noop)])
    args = parser.parse_args(["profile", "audit", "--deep", "yes", "--data-dir", "d"])
    assert (args.func, args.deep, args.data_dir) == (_noop, "yes", "d")
    assert parser.parse_args(["profile", "list"]).func is not _noop  # the core's commands stay
    assert parser.parse_args(["fleet", "ping"]).func is _noop
    assert parser.parse_args(["hello", "--config", "c.yaml"]).config == "c.yaml"


@pytest.mark.parametrize("command, message", [
    (Command("list", _noop, group="profile"), "'profile list' is registered twice"),
    (Command("plugins", _noop), "'plugins' is registered twice"),
    (Command("x", _noop, group="init"), "'init' is a command, not a group"),
    (Command("x", _noop, configure=lambda p: p.add_argument("--config")), "'x': argument --config"),
])
def test_a_plugin_cannot_take_a_command_that_exists(command, message):
    with pytest.raises(ConfigError, match=message):
        build_parser([command])
