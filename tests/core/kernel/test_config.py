"""Configuration: file, environment overrides, $env references, unknown keys."""

from pathlib import Path

import pytest
import yaml

from gridlinks.core.config import DEFAULT_PLUGINS, HubConfig, HubSettings, Settings, env_field
from gridlinks.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]


class PortSettings(Settings):
    port: int = 1
    tls_port: int = env_field(2, "GRIDLINKS_THINGS_TLS")


def test_defaults_without_file():
    config = HubConfig({}, environ={})
    assert config.core.bind == "0.0.0.0"
    assert config.core.plugins == DEFAULT_PLUGINS
    assert config.core.database_url.startswith("sqlite://") and config.core.database_url.endswith("hub.db")


def test_environment_overrides_file_and_nested_keys(tmp_path):
    path = tmp_path / "hub.yaml"
    path.write_text("bind: 10.0.0.1\nclaim:\n  duration_ms: 5\nthings:\n  port: 7\n")
    env = {"GRIDLINKS_BIND": "127.0.0.1", "GRIDLINKS_CLAIM_ALLOW_CLAIMING_BY_DEFAULT": "false",
           "GRIDLINKS_THINGS_PORT": "9", "GRIDLINKS_THINGS_TLS": "10", "GRIDLINKS_PLUGINS": "http, admin_api"}
    config = HubConfig.load(path, env)
    assert config.core.bind == "127.0.0.1"
    assert config.core.claim.duration_ms == 5
    assert config.core.claim.allow_claiming_by_default is False
    assert config.core.plugins == ["http", "admin_api"]
    things = config.section("things", PortSettings)
    assert (things.port, things.tls_port) == (9, 10)


def test_env_reference_for_secrets():
    config = HubConfig({"auth": {"jwt_secret": "$env:MY_SECRET"}}, environ={"MY_SECRET": "s3"})
    assert config.core.auth.jwt_secret == "s3"
    with pytest.raises(ConfigError, match="MY_SECRET"):
        HubConfig({"auth": {"jwt_secret": "$env:MY_SECRET"}}, environ={})


def test_unknown_keys_fail_naming_the_key():
    with pytest.raises(ConfigError, match="unknown config key claim.duration"):
        HubConfig({"claim": {"duration": 5}}, environ={})
    config = HubConfig({"thingz": {"port": 1}}, environ={})
    with pytest.raises(ConfigError, match="thingz"):
        config.check_all_sections_claimed()
    config = HubConfig({"things": {"prot": 1}}, environ={})
    with pytest.raises(ConfigError, match="unknown config key things.prot"):
        config.section("things", PortSettings)


def test_bad_values_are_reported():
    with pytest.raises(ConfigError, match="max_payload_bytes"):
        HubConfig({}, environ={"GRIDLINKS_MAX_PAYLOAD_BYTES": "lots"})
    with pytest.raises(ConfigError, match="does not exist"):
        HubConfig.load("/nonexistent/hub.yaml", {})


def test_shipped_hub_yaml_mirrors_code_defaults():
    """config/hub.yaml documents the defaults; it must not drift from the code."""
    raw = yaml.safe_load((REPO / "config" / "hub.yaml").read_text())
    config = HubConfig(raw, environ={})
    defaults = HubSettings()
    for key in HubSettings.model_fields:
        if key == "data_dir":
            continue
        assert getattr(config.core, key) == getattr(defaults, key), key
