"""Request bodies and query strings of the admin/REST API, as pydantic models: the one
validation layer (read through :mod:`gridlinks.web.bodies`).

Bodies are reference-shaped, so REST clients written for the reference (tb-rest-client)
send full objects with many members the hub does not use and many ``null``s: unknown
members are ignored and ``null`` means "not given". String limits are the database
columns' (:mod:`gridlinks.core.storage.models`), so nothing that passes here can fail to be
stored; numbers are range-checked to what SQLite and PostgreSQL hold (int64).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, RootModel, StrictBool, StringConstraints

from gridlinks.core.services.device_payloads import key_list
from gridlinks.core.storage.paging import MAX_PAGE_SIZE

NAME_MAX = 255  # CharField(max_length=255): names, titles, labels, e-mails, keys
TYPE_MAX = 64  # provision_type, credentials_type
TEXT_MAX = 65_536  # TextField members (descriptions, secrets): bounded by this, not the database
PASSWORD_MAX = 1024  # hashed with Argon2: the cost of hashing grows with the length
TOKEN_MAX = 8192  # a JWT the hub issued is ~300 characters
CREDENTIALS_ID_MAX = 512  # DeviceCredentials.credentials_id
ID_MAX = 64  # an entity id (a UUID is 36 characters)
INT64_MAX = 2**63 - 1

Name = Annotated[str, StringConstraints(max_length=NAME_MAX)]
Key = Annotated[str, StringConstraints(min_length=1, max_length=NAME_MAX)]
Text = Annotated[str, StringConstraints(max_length=TEXT_MAX)]
Id = Annotated[str, StringConstraints(max_length=ID_MAX)]
EpochMs = Annotated[int, Field(ge=-INT64_MAX, le=INT64_MAX)]


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class EntityRef(Body):
    """``{"entityType": "DEVICE", "id": "..."}``, as the reference writes references."""

    id: Id | None = None


Ref = EntityRef | Id | None


def ref_id(value: Ref) -> str | None:
    return value.id if isinstance(value, EntityRef) else value


# -- auth ------------------------------------------------------------------------------


class LoginBody(Body):
    username: Name | None = None
    password: Annotated[str, StringConstraints(max_length=PASSWORD_MAX)] | None = None


class RefreshBody(Body):
    refreshToken: Annotated[str, StringConstraints(max_length=TOKEN_MAX)]


# -- device profiles and devices ------------------------------------------------------------


class ProvisionConfiguration(Body):
    model_config = ConfigDict(extra="allow")  # strategy options (e.g. the X.509 chain's) pass through

    type: Annotated[str, StringConstraints(max_length=TYPE_MAX)] | None = None
    provisionDeviceSecret: Text | None = None


class ProfileData(Body):
    provisionConfiguration: ProvisionConfiguration | None = None


class ProfileBody(Body):
    id: EntityRef | None = None
    name: Name | None = None
    description: Text | None = None
    provisionType: Annotated[str, StringConstraints(max_length=TYPE_MAX)] | None = None
    provisionDeviceKey: Name | None = None
    profileData: ProfileData | None = None


class DeviceInfo(Body):
    gateway: bool | None = None
    description: Text | None = None


class DeviceBody(Body):
    id: EntityRef | None = None
    name: Name | None = None
    type: Name | None = None
    label: Name | None = None
    deviceProfileId: EntityRef | None = None
    additionalInfo: DeviceInfo | None = None


class SaveDeviceQuery(Body):
    accessToken: Annotated[str, StringConstraints(max_length=CREDENTIALS_ID_MAX)] | None = None


class AttributesBody(RootModel[dict[Key, Any]]):
    """``{"key": value, ...}``: keys as long as the attribute key column allows."""


class MappingColumn(Body):
    model_config = ConfigDict(extra="allow")

    type: Annotated[str, StringConstraints(max_length=TYPE_MAX)] | None = None
    key: Name | None = None


class BulkMapping(Body):
    model_config = ConfigDict(extra="allow")

    columns: list[MappingColumn] | None = Field(None, max_length=1000)


class BulkImportBody(Body):
    file: str
    mapping: BulkMapping | None = None


# -- query strings -------------------------------------------------------------------------


class KeysQuery(Body):
    """``keys=a,b,c`` as the attribute and telemetry reads take it."""

    keys: str | None = Field(None, description="comma-separated keys; none: all")

    def key_list(self) -> list[str] | None:
        return split_keys(self.keys)


class DeleteKeysQuery(KeysQuery):
    """What to delete: ``keys=a,b`` and/or ``key=a&key=b`` (tb-rest-client 4.x sends either;
    a repeated ``key`` may hold a comma)."""

    key: list[Key] | None = Field(None, max_length=1000, description="one key per parameter, repeatable")

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> dict[str, Any]:
        """The query as this model reads it: every ``key``, the first of anything else."""
        out: dict[str, Any] = {k: query[k] for k in query.keys()}
        if "key" in out:
            out["key"] = query.getall("key")  # type: ignore[attr-defined]
        return out

    def all_keys(self) -> list[str]:
        return list(dict.fromkeys((self.key_list() or []) + (self.key or [])))


class TimeseriesQuery(KeysQuery):
    startTs: EpochMs | None = None
    endTs: EpochMs | None = None
    limit: Annotated[int, Field(ge=1, le=10_000)] | None = None


class PageQuery(Body):
    """``?page=0&pageSize=10``, as every list takes it (read by
    :func:`gridlinks.core.storage.paging.parse_paging`)."""

    page: Annotated[int, Field(ge=0, le=2**31)] | None = None
    pageSize: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] | None = None


class SearchPageQuery(PageQuery):
    textSearch: Name | None = Field(None, description="part of the name, any case")


class DeviceListQuery(SearchPageQuery):
    deviceName: str | None = Field(None, description="one device by its exact name (not a page)")
    deviceProfileId: UUID | None = None


class AuditQuery(PageQuery):
    startTime: EpochMs | None = None
    endTime: EpochMs | None = None
    action: Annotated[str, StringConstraints(max_length=64)] | None = None
    outcome: Annotated[str, StringConstraints(max_length=16)] | None = None
    deviceId: UUID | None = None


def split_keys(value: str | None) -> list[str] | None:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``; None for no parameter. A key longer than
    any stored key is refused rather than searched for."""
    return key_list(value, "keys")


# -- customers, users, roles, groups ---------------------------------------------------------


class CustomerBody(Body):
    id: Ref = None
    title: Name


class UserBody(Body):
    email: Name
    password: Annotated[str, StringConstraints(max_length=PASSWORD_MAX)]
    firstName: Name | None = None
    lastName: Name | None = None
    authority: Annotated[str, StringConstraints(max_length=32)] | None = None
    customerId: Ref = None


class RoleBody(Body):
    name: Name | None = None
    permissions: Any = None


class GroupBody(Body):
    name: Name | None = None
    customerId: Ref = None


class IdList(RootModel[list[EntityRef | Id]]):
    root: list[EntityRef | Id] = Field(max_length=10_000)

    def ids(self) -> list[str | None]:
        return [ref_id(v) for v in self.root]


# -- claiming and dynamic registration ---------------------------------------------------------


class ClaimBody(Body):
    secretKey: Text | None = None


class DynamicRegistrationSwitch(Body):
    dynamicRegistration: StrictBool


class StaticSecretBody(Body):
    secret: Name | None = None


class LogoutQuery(Body):
    everywhere: bool | None = Field(None, description="true: end every session of the caller")


# -- the device API (documented here; the device API's service reads the raw bytes) ---------------


class ProvisionBody(Body):
    """A provision request (SPEC.md section 1); strategy-specific members pass through."""

    model_config = ConfigDict(extra="allow")

    deviceName: Name | None = None
    provisionDeviceKey: Name | None = None
    provisionDeviceSecret: Text | None = None
    credentialsType: Annotated[str, StringConstraints(max_length=TYPE_MAX)] | None = None
    token: Annotated[str, StringConstraints(max_length=CREDENTIALS_ID_MAX)] | None = None


class TelemetryEntry(Body):
    ts: EpochMs
    values: dict[Key, Any]


class TelemetryBody(RootModel[dict[Key, Any] | TelemetryEntry | list[TelemetryEntry | dict[Key, Any]]]):
    """``{"key": value}``, ``{"ts": ms, "values": {...}}`` or a list of either."""


class DeviceClaimBody(Body):
    secretKey: Text | None = None
    durationMs: EpochMs | None = None


class DeviceAttributesQuery(Body):
    clientKeys: str | None = Field(None, description="comma-separated client-side keys")
    sharedKeys: str | None = Field(None, description="comma-separated shared keys")
