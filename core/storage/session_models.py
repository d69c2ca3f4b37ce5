"""The sign-in session table: the server-side truth that a user's tokens are still good.

One row per sign-in (REST login or dashboard login). Every access and refresh token
carries the row's id (``sid``) and its own id (``jti``); a token is accepted only while
its row exists, so signing out is deleting the row, and "sign out everywhere" is
deleting every row of the user. The row also holds the id of the one refresh token that
may still be used (``refresh_jti``): refreshing swaps it for a new one in a single
conditional UPDATE, so an old refresh token can never be used twice.

The truth lives in the database (not in a process's memory) because several hub
processes may share one PostgreSQL; checking it costs nothing extra per request, since
the user row that every request re-reads is fetched through a join on this table.

Kept apart from :mod:`gridlinks.core.storage.models` because only :mod:`gridlinks.core.services.auth`
reads it; it lives in the same Tortoise app, so it can point at ``models.User``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from gridlinks.core.storage.models import now_ms

if TYPE_CHECKING:  # not at run time: Tortoise registers every model class a models module holds
    from gridlinks.core.storage.models import User


class AuthSession(Model):
    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="auth_sessions", on_delete=fields.CASCADE)
    # The jti of the only refresh token of this session that is still accepted.
    refresh_jti = fields.CharField(max_length=64)
    created_ms = fields.BigIntField(default=now_ms)
    # When the newest refresh token expires; rows past it are purged.
    expires_ms = fields.BigIntField(index=True)

    class Meta:
        table = "auth_session"
