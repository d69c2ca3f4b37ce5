"""What the HTTP API answers, as pydantic models: the response half of the OpenAPI
document (:mod:`gridlinks.web.openapi`; requests are :mod:`gridlinks.web.schemas`).

The handlers build their answers with the services' ``to_json`` functions; these models
say what those answers hold, and schemathesis (tests/web/test_openapi_schemathesis.py)
checks every answer of a running hub against them. Members the hub adds later do not
break a client: every model allows more members than it names.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, RootModel

T = TypeVar("T")


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorBody(Out):
    """Every refusal of the REST API: ``{"status": 400, "message": "...", "errorCode": 31}``."""

    status: int
    message: str
    errorCode: int


class EntityId(Out):
    entityType: str
    id: str


class IdOnly(Out):
    id: str


class PageData(Out, Generic[T]):
    """One page of a list (``?page=0&pageSize=10``)."""

    data: list[T]
    totalPages: int
    totalElements: int
    hasNext: bool


# -- auth --------------------------------------------------------------------------------


class TokenPair(Out):
    token: str
    refreshToken: str


class CurrentUser(Out):
    id: EntityId
    email: str
    authority: str
    tenantId: EntityId | None
    customerId: EntityId | None


class RevokedSessions(Out):
    userId: EntityId
    revokedSessions: int


# -- profiles, devices, attributes -------------------------------------------------------------


class ProfileOut(Out):
    id: EntityId
    createdTime: int
    tenantId: EntityId
    name: str
    description: str | None
    provisionType: str
    provisionDeviceKey: str | None
    default: bool
    profileData: dict[str, Any]


class DeviceInfoOut(Out):
    gateway: bool
    description: str | None


class DeviceOut(Out):
    id: EntityId
    createdTime: int
    tenantId: EntityId
    customerId: EntityId
    name: str
    type: str
    label: str | None
    deviceProfileId: EntityId
    additionalInfo: DeviceInfoOut


class CredentialsOut(Out):
    id: IdOnly
    createdTime: int
    deviceId: EntityId
    credentialsType: str
    credentialsId: str | None
    credentialsValue: str | None


class AttributeRow(Out):
    key: str
    value: Any
    lastUpdateTs: int


class TsValue(Out):
    ts: int
    value: Any


Timeseries = dict[str, list[TsValue]]


class BulkImportResult(Out):
    created: int
    updated: int
    errors: int
    errorsList: list[str]


class AuditRow(Out):
    id: int
    ts: int
    action: str
    outcome: str
    transport: str | None
    deviceId: str | None
    deviceName: str | None
    actor: str | None
    reason: str | None
    details: Any


class AuditPage(Out):
    data: list[AuditRow]
    totalElements: int
    totalPages: int
    hasNext: bool


# -- customers, users, roles, groups --------------------------------------------------------


class CustomerOut(Out):
    id: EntityId
    createdTime: int
    tenantId: EntityId
    title: str
    name: str


class UserOut(Out):
    id: EntityId
    createdTime: int
    tenantId: EntityId | None
    customerId: EntityId | None
    email: str
    authority: str
    firstName: str | None
    lastName: str | None
    name: str


class RoleOut(Out):
    id: EntityId
    createdTime: int
    tenantId: EntityId
    name: str
    type: str
    permissions: Any


class GroupOut(Out):
    id: EntityId
    createdTime: int
    name: str
    type: str
    customerId: EntityId | None
    userIds: list[str]
    roleIds: list[str]


# -- claiming ------------------------------------------------------------------------------


class ClaimResult(Out):
    device: DeviceOut
    response: Literal["SUCCESS"]


# 400 from a claim: the reference's bare JSON string, or the usual error body for a bad request.
ClaimRefusal = Literal["CLAIMED", "FAILURE"] | ErrorBody


# -- the device API ----------------------------------------------------------------------------


class ProvisionResponse(Out):
    """``SUCCESS`` with the credentials, or ``NOT_FOUND`` / ``FAILURE`` with ``errorMsg``."""

    status: str
    credentialsType: str | None = None
    credentialsValue: Any = None
    deviceId: str | None = None
    deviceName: str | None = None
    errorMsg: str | None = None


class DeviceAttributes(Out):
    """``{"client": {...}, "shared": {...}}``; a scope with nothing is left out."""

    client: dict[str, Any] | None = None
    shared: dict[str, Any] | None = None


class Health(Out):
    status: Literal["UP", "DOWN"]


class JsonObject(RootModel[dict[str, Any]]):
    """Any JSON object."""
