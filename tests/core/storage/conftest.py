"""Fixtures of the storage tests: a Storage opened on each database backend."""

from __future__ import annotations

import pytest

from gridlinks.core.storage.database import Storage
from tests.support import storage_url


@pytest.fixture
async def storage(db_url, tmp_path):
    """A Storage opened on SQLite (a file in tmp_path) or a throw-away PostgreSQL database."""
    store = Storage(storage_url(db_url, tmp_path))
    await store.open()
    try:
        yield store
    finally:
        await store.close()
