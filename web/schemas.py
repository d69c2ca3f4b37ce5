"""Request bodies and query strings of the admin/REST API, as pydantic models: the one
validation layer (read through :mod:`gridlinks.web.bodies`).

Bodies are reference-shaped, so REST clients written for the reference (tb-rest-client)
send full objects with many members the hub does not use and many ``null``s: unknown
members are ignored and ``null`` means "not given". String limits are the database
columns' (:mod:`gridlinks.core.storage.models`), so nothing that passes here can fail to be
stored; numbers are range-checked to what SQLite and PostgreSQL hold (int64).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, RootModel, StrictBool, StringConstraints

from gridlinks.core.services.device_payloads import key_list

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

    keys: str | None = None

    def key_list(self) -> list[str] | None:
        return split_keys(self.keys)


class TimeseriesQuery(KeysQuery):
    startTs: EpochMs | None = None
    endTs: EpochMs | None = None
    limit: Annotated[int, Field(ge=1, le=10_000)] | None = None


class DeviceListQuery(Body):
    deviceName: str | None = None
    textSearch: Name | None = None
    deviceProfileId: UUID | None = None


class AuditQuery(Body):
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
