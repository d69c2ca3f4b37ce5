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


@dataclass(frozen=True, slots=True, kw_only=True)
class ProvisionFailed(Outcome):
    """Fires when a provisioning request is refused (its reason is for the audit log only)."""

    name: ClassVar[str] = "provision_failed"
    reason: str
    transport: str
    tenant_id: str | None
    device_name: str
    profile: str | None


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
class DeviceCreated(Event):
    """Fires after an admin (API, dashboard, bulk import) created a device."""

    name: ClassVar[str] = "device_created"
    device_id: str
    device_name: str
    tenant_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceDeleted(Event):
    """Fires after a device was deleted; its open sessions end."""

    name: ClassVar[str] = "device_deleted"
    device_id: str
    device_name: str


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


# -- profiles, customers, bulk import ------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileSaved(Event):
    """Fires after a device profile was created or changed."""

    name: ClassVar[str] = "profile_saved"
    profile_id: str
    profile: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerCreated(Event):
    """Fires after a tenant admin created a customer."""

    name: ClassVar[str] = "customer_created"
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
