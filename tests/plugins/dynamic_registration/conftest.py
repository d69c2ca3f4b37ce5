"""Fixtures of the dynamic registration tests: a hub with the seed's product and device."""

from __future__ import annotations

import pytest

from tests.plugins.dynamic_registration.support import product_hub


@pytest.fixture
async def hub(tmp_path):
    async with product_hub(tmp_path) as running:
        yield running


@pytest.fixture
async def hub_db(tmp_path, db_url):
    async with product_hub(tmp_path, db_url) as running:
        yield running
