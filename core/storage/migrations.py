"""Schema upgrades that keep an older ``data/`` working without losing anything.

How it works:
- A fresh database gets every table from the models and is stamped with every
  migration's version (nothing to upgrade).
- An existing database gets each migration whose version is above the highest one in
  ``schema_version``, in order, each in its own transaction, then new tables (new
  models, newly enabled plugins' models) are created with ``CREATE TABLE IF NOT EXISTS``.
- On SQLite a copy of the file is written to ``data/backups/`` before any migration runs.

To change an existing table: change the model, then append a ``Migration`` here whose
``apply`` alters the table (``ALTER TABLE ... ADD COLUMN ... DEFAULT ...``) for both
dialects. Never edit or reorder a migration that has shipped.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tortoise.backends.base.client import BaseDBAsyncClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[BaseDBAsyncClient, str], Awaitable[None]]


async def _initial(conn: BaseDBAsyncClient, dialect: str) -> None:
    """Version 1 is the schema the models generate; nothing to alter."""


async def _device_list_index(conn: BaseDBAsyncClient, dialect: str) -> None:
    from gridlinks.core.storage.models import DEVICE_LIST_INDEX

    await conn.execute_script(
        f"CREATE INDEX IF NOT EXISTS {DEVICE_LIST_INDEX} ON device (tenant_id, created_ms, id)")


MIGRATIONS: Sequence[Migration] = (
    Migration(1, "initial schema", _initial),
    Migration(2, "device list index (tenant, created, id)", _device_list_index),
)
