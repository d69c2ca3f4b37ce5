"""Fixtures of the X.509 tests: a started hub that says where its MQTT TLS listener is."""

from __future__ import annotations

import pytest

from tests.plugins.x509.certs import with_tls
from tests.support import hub_config, start_hub, stop_hub


@pytest.fixture
async def hub(tmp_path):
    running = await start_hub(hub_config(tmp_path / "data", mqtt={"provision_close_delay_s": 0.2}))
    with_tls(running)
    try:
        yield running
    finally:
        await stop_hub(running)
