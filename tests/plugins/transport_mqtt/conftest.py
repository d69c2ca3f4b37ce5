"""Fixtures of the MQTT transport's tests: a started hub that says which MQTT port it took."""

from __future__ import annotations

import pytest

from tests.support import hub_config, start_hub, stop_hub


def with_mqtt_ports(running):
    """Note the hub's MQTT ports on ``running`` (the config chose free ones)."""
    settings = running.hub.transports.get("mqtt").settings
    running.mqtt_port, running.mqtts_port = settings.port, settings.tls_port
    return running


@pytest.fixture
async def mqtt_hub(tmp_path):
    """A hub on SQLite with the demo profile, an admin token and ``mqtt_port``."""
    running = with_mqtt_ports(await start_hub(hub_config(tmp_path / "data")))
    try:
        yield running
    finally:
        await stop_hub(running)
