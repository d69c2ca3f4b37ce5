"""One row by equality on fixed columns, read in plain SQL and turned into the model.

For hot read paths (a customer's claim looks its device up by tenant and name): the ORM's
query building (filters resolved, SQL compiled from scratch each call) cost more than the
indexed read itself in a profile of the claim round trip. The SQL is built once per
lookup from the model's metadata; the row becomes a model instance the way the ORM's own
reads make them (``_init_from_db``), so callers get the same object.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from tortoise.models import Model

if TYPE_CHECKING:
    from gridlinks.core.storage.database import Storage

M = TypeVar("M", bound=Model)


def _param(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


class Lookup(Generic[M]):
    """``await Lookup(storage, Device, "tenant_id", "name").one(tenant_id, name)``: the row
    where every column equals its value (the first, when several do), or None."""

    def __init__(self, storage: Storage, model: type[M], *fields: str):
        self.storage = storage
        self.model = model
        self.fields = fields
        self._sql: str | None = None

    def _query(self) -> str:
        if self._sql is None:
            meta = self.model._meta
            columns = meta.fields_db_projection
            marks = [f"${n}" if self.storage.dialect == "postgres" else "?" for n in range(1, len(self.fields) + 1)]
            where = " AND ".join(f'"{columns[name]}" = {mark}' for name, mark in zip(self.fields, marks, strict=True))
            self._sql = f'SELECT * FROM "{meta.db_table}" WHERE {where} LIMIT 1'
        return self._sql

    async def one(self, *values: Any) -> M | None:
        rows = await self.storage.connection().execute_query_dict(self._query(), [_param(v) for v in values])
        return self.model._init_from_db(**rows[0]) if rows else None
