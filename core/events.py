"""Every fact the core fires on the bus, one frozen dataclass per event type.

Why typed: listeners (the audit log, the dashboard's live feed, the MQTT and CoAP
pushes, session revocation, the TLS trust store) read fields by attribute, so a renamed
or missing field is a type error where the event is fired, not a silent ``None`` in a
listener. ``bus.listen(DeviceDeleted, fn)`` keys on the class; listening on a base class
(``Event``, ``Outcome``) hears every subclass.

``name`` is the event's stable name: the audit log's ``action`` column and the live
feed's ``type`` keep it, so it never changes when a class is renamed. Events that carry
an ``outcome`` (subclasses of :class:`Outcome`) are attempts the audit log keeps; every
other field goes to the row's columns or its ``details``. Secrets are never fields.
Plugins declare their own events the same way, next to the code that fires them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

# Ids are ``str(uuid)`` where the service had a model at hand; a few sign-in events
# carry the user's tenant id as the model holds it (a UUID, or None for a sysadmin).
TenantId = str | uuid.UUID | None


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """The base of every event: when it happened. Listen on it to hear every event."""

    name: ClassVar[str] = "event"
    time_ms: int = field(default_factory=_now_ms, compare=False)
    # True when the audit row was committed in the same write as the change the event
    # reports (the provisioning hot path), so the audit listener does not write it again.
    audited: bool = field(default=False, compare=False)
    # True on the other nodes of a cluster, where the cluster bus fired it on behalf of the
    # node it happened on: work done once per hub (audit rows, counters) skips it; work for
    # this node's own devices, sessions and caches does not.
    remote: bool = field(default=False, compare=False)

    def data(self) -> dict[str, Any]:
        """The event's fields as a dict (for the audit row and the live feed), without
        ``time_ms``/``audited``/``remote`` and without optional fields left at None, as the old
        dict events simply did not have those keys."""
        layout = _LAYOUT.get(type(self))
        if layout is None:
            layout = _LAYOUT[type(self)] = tuple((f.name, f.default is None) for f in fields(self)
                                                 if f.name not in _META)
        out: dict[str, Any] = {}
        for key, optional in layout:
            value = getattr(self, key)
            if value is None and optional:
                continue
            out[key] = value
        return out


_META = frozenset(f.name for f in fields(Event))
# Per event class: (field, optional) pairs, as ``dataclasses.fields`` is slow on the hot path.
_LAYOUT: dict[type[Event], tuple[tuple[str, bool], ...]] = {}


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome(Event):
    """An attempt that ended one way or another; the audit log keeps one row for each."""

    outcome: str


# Who the running task acts for: ``cli:<os user>`` in the ``gridlinks`` command, the
# signed-in user's e-mail in an admin API or dashboard request (set once the token is
# checked; each HTTP request runs in its own task, so it ends with the request).
_ACTOR: ContextVar[str | None] = ContextVar("gridlinks_actor", default=None)


def current_actor() -> str | None:
    return _ACTOR.get()


def set_actor(actor: str | None) -> None:
    """Name who the rest of the current task acts for."""
    _ACTOR.set(actor)


@contextmanager
def acting_as(actor: str | None) -> Iterator[None]:
    """Name who the changes made inside the block are made by."""
    token = _ACTOR.set(actor)
    try:
        yield
    finally:
        _ACTOR.reset(token)


@dataclass(frozen=True, slots=True, kw_only=True)
class Change(Event):
    """A person (admin API, dashboard, CLI) created, changed or deleted something; the audit log keeps it."""

    name: ClassVar[str] = "change"
    # Who: given by the service, else whoever the firing task acts for (``acting_as``).
    actor: str | None = None

    def __post_init__(self) -> None:
        if self.actor is None:
            object.__setattr__(self, "actor", _ACTOR.get())


@dataclass(frozen=True, slots=True, kw_only=True)
class HubStarted(Event):
    """Fires once the hub's transports are all listening."""

    name: ClassVar[str] = "hub_started"


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterResynced(Event):
    """Fires on a node that lost the other nodes' events (Redis) once it hears them again."""

    # What the node keeps from events it may have missed (its profile cache, its TLS trust
    # store) is to be rebuilt from the database.

    name: ClassVar[str] = "cluster_resynced"


# -- devices ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceProvisioned(Outcome):
    """Fires after a provisioning request's device, credentials and audit row are committed."""

    name: ClassVar[str] = "device_provisioned"
    tenant_id: str
    device_id: str
    device_name: str
    transport: str
    profile: str
    credentials_type: str
    gateway: str | None = None
    # ROTATE or RESET when an existing device was provisioned again, and how it proved itself.
    reprovision: str | None = None
    proof: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProvisionFailed(Outcome):
    """Fires when a provisioning request is refused (its reason is for the audit log only)."""

    name: ClassVar[str] = "provision_failed"
    reason: str
    transport: str
    tenant_id: str | None
    device_name: str
    profile: str | None
    # The profile quota that refused it (maxDevices, maxProvisionsPerMinute, provisionUntil),
    # for the audit log and metrics; None for any other reason.
    quota: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateRotated(Outcome):
    """Fires when a known device presents a new certificate under its profile's chain and it replaces the old one."""

    name: ClassVar[str] = "certificate_rotated"
    tenant_id: str
    device_id: str
    device_name: str
    profile: str
    transport: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceCreated(Change):
    """Fires after an admin (API, dashboard, bulk import) created a device."""

    name: ClassVar[str] = "device_created"
    device_id: str
    device_name: str
    tenant_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceDeleted(Change):
    """Fires after a device was deleted; its open sessions end."""

    name: ClassVar[str] = "device_deleted"
    device_id: str
    device_name: str
    tenant_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceConnected(Event):
    """Fires when a device opened an authenticated session (MQTT CONNECT)."""

    name: ClassVar[str] = "device_connected"
    device_id: str
    device_name: str
    transport: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CredentialsIssued(Event):
    """Fires after a device's credentials were replaced (certificate rotation, admin reset)."""

    name: ClassVar[str] = "credentials_issued"
    device_id: str
    device_name: str
    credentials_type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CredentialsRevoked(Event):
    """Fires when a device's credentials stop being valid; session transports end its open sessions."""

    name: ClassVar[str] = "credentials_revoked"
    device_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AttributesUpdated(Event):
    """Fires after attribute values of one scope were committed (pushed to observers if shared)."""

    name: ClassVar[str] = "attributes_updated"
    device_id: str
    scope: str
    values: dict[str, Any]
    source: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AttributesDeleted(Event):
    """Fires after attribute keys of one scope were deleted (pushed as ``{"deleted": [...]}`` if shared)."""

    name: ClassVar[str] = "attributes_deleted"
    device_id: str
    scope: str
    keys: list[str]
    source: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceAuthFailed(Outcome):
    """Fires when a device's request or login was refused for unknown credentials (401, 4.01, CONNACK)."""

    # ``token`` is masked (a few first characters and the length), never the credential;
    # ``suppressed``: alike refusals counted but not audited since the last audited one
    # (gridlinks.core.services.rejections).
    name: ClassVar[str] = "device_auth_failed"
    transport: str
    reason: str
    status: str
    token: str | None = None
    suppressed: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceRequestRejected(Outcome):
    """Fires when a device's request was refused for its body: not JSON, a wrong shape, too large."""

    name: ClassVar[str] = "device_request_rejected"
    transport: str
    reason: str
    status: str
    tenant_id: str | None = None
    device_id: str | None = None
    device_name: str | None = None
    suppressed: int | None = None


# -- profiles, customers, bulk import ------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileSaved(Change):
    """Fires after a device profile was created or changed."""

    name: ClassVar[str] = "profile_saved"
    profile_id: str
    profile: str
    tenant_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileDeleted(Change):
    """Fires after a device profile (one no device used) was deleted."""

    name: ClassVar[str] = "profile_deleted"
    profile_id: str
    profile: str
    tenant_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileSecretRotated(Outcome):
    """Fires when a profile's secret rotation starts, gets its old secret's expiry, or ends."""

    name: ClassVar[str] = "profile_secret_rotated"
    tenant_id: str
    profile_id: str
    profile: str
    step: str                         # "started", "expiry" or "finished"; never a secret
    actor: str | None = None
    previous_expires_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerCreated(Change):
    """Fires after a tenant admin created a customer."""

    name: ClassVar[str] = "customer_created"
    tenant_id: str
    customer: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerDeleted(Change):
    """Fires after a customer and its users were deleted (its devices stay, unassigned)."""

    name: ClassVar[str] = "customer_deleted"
    tenant_id: str
    customer: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BulkImportFinished(Outcome):
    """Fires when a bulk device import ran to its end (SUCCESS, or PARTIAL with errors)."""

    name: ClassVar[str] = "bulk_import_finished"
    tenant_id: str
    created: int
    updated: int
    errors: int
    errorsList: list[str]  # noqa: N815 - the import result's JSON name, kept in the audit details
    actor: str | None = None       # who ran it (the dashboard user, the CLI), when known
    file_name: str | None = None   # the CSV file's name, when known


# -- claiming --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimRegistered(Outcome):
    """Fires when a device (or its gateway) sent claim info, accepted or refused."""

    name: ClassVar[str] = "claim_registered"
    tenant_id: str
    device_name: str
    transport: str
    device_id: str | None = None
    gateway: str | None = None
    reason: str | None = None
    duration_ms: int | None = None
    expiration_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceClaimed(Outcome):
    """Fires when a customer user tried to claim a device, whatever the outcome."""

    name: ClassVar[str] = "device_claimed"
    tenant_id: str | None
    device_name: str
    actor: str
    transport: str
    device_id: str | None = None
    reason: str | None = None
    delay_ms: int | None = None
    customer_id: str | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceReclaimed(Outcome):
    """Fires when a user tried to take a device back from its customer, whatever the outcome."""

    name: ClassVar[str] = "device_reclaimed"
    tenant_id: str | None
    device_name: str
    actor: str
    transport: str
    device_id: str | None = None
    reason: str | None = None
    customer_id: str | None = None


# -- people ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class UserCreated(Change):
    """Fires after a user account was created (tenant admin or customer user)."""

    name: ClassVar[str] = "user_created"
    tenant_id: str | None
    user: str
    authority: str
    customer_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UserLogin(Outcome):
    """Fires after a user signed in with a password."""

    name: ClassVar[str] = "user_login"
    actor: str
    tenant_id: TenantId


@dataclass(frozen=True, slots=True, kw_only=True)
class UserLogout(Outcome):
    """Fires after a user signed out (their session ended)."""

    name: ClassVar[str] = "user_logout"
    actor: str | None
    tenant_id: TenantId


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionsRevoked(Outcome):
    """Fires after every session of a user was ended (by the user or an admin)."""

    name: ClassVar[str] = "sessions_revoked"
    actor: str
    tenant_id: TenantId
    user: str
    sessions: int
