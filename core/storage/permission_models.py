"""Tables of the permission model (the seeds' "PE" permissions): a role is a set of
operations per resource; a user group holds users and roles; a user may do what the
roles of their groups allow, on top of their authority's defaults.

Kept apart from :mod:`gridlinks.core.storage.models` because only the permission service reads
them; they live in the same Tortoise app, so they can point at ``models.User``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

from gridlinks.core.storage.models import now_ms

if TYPE_CHECKING:  # not at run time: Tortoise registers every model class a models module holds
    from gridlinks.core.storage.models import Customer, Tenant, User


class Role(Model):
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="roles", on_delete=fields.CASCADE)
    name = fields.CharField(max_length=255)
    # {"DEVICE": ["CLAIM_DEVICES"], ...}: resource -> operations.
    permissions: fields.JSONField[Any] = fields.JSONField(default=dict)
    created_ms = fields.BigIntField(default=now_ms)

    class Meta:
        table = "role"
        unique_together = (("tenant", "name"),)


class UserGroup(Model):
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="user_groups", on_delete=fields.CASCADE)
    customer: fields.ForeignKeyNullableRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="user_groups", null=True, on_delete=fields.CASCADE)
    name = fields.CharField(max_length=255)
    users: fields.ManyToManyRelation[User] = fields.ManyToManyField(
        "models.User", related_name="user_groups", through="user_group_member")
    roles: fields.ManyToManyRelation[Role] = fields.ManyToManyField(
        "models.Role", related_name="user_groups", through="user_group_role")
    created_ms = fields.BigIntField(default=now_ms)

    class Meta:
        table = "user_group"
        unique_together = (("tenant", "name"),)
