"""The facts dynamic registration fires (typed as in ``core/events.py``): every login,
password request and admin change is an attempt the audit log keeps, never with a secret."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gridlinks.core.events import Outcome


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceActivated(Outcome):
    """Fires when a device first logged in with the password it was issued (authmode 1)."""

    name: ClassVar[str] = "device_activated"
    tenant_id: str
    device_id: str
    device_name: str
    profile: str
    transport: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrationLoginRefused(Outcome):
    """Fires when a ``ProductSN|DeviceSN|authmode`` login is refused (the reason stays in the audit log)."""

    name: ClassVar[str] = "registration_login_refused"
    reason: str
    authmode: int
    transport: str
    device_name: str
    tenant_id: str | None
    profile: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DevicePasswordIssued(Outcome):
    """Fires when a device's password request (authmode 2) got a password, new or resent."""

    name: ClassVar[str] = "device_password_issued"
    tenant_id: str
    device_id: str
    device_name: str
    profile: str
    transport: str
    resent: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class DevicePasswordRefused(Outcome):
    """Fires when a device's password request (authmode 2) is refused, with its RetCode."""

    name: ClassVar[str] = "device_password_refused"
    reason: str
    ret_code: int | str
    transport: str
    device_name: str
    device_id: str | None
    tenant_id: str | None
    profile: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DynamicRegistrationSwitched(Outcome):
    """Fires when an admin turned a product's dynamic registration on or off."""

    name: ClassVar[str] = "dynamic_registration_switched"
    tenant_id: str
    profile: str
    on: bool
    actor: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceSecretSet(Outcome):
    """Fires when an admin set a device's static secret (its old sessions then end)."""

    name: ClassVar[str] = "device_secret_set"
    tenant_id: str
    device_id: str
    device_name: str
    actor: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceRegistrationReset(Outcome):
    """Fires when an admin forgot a device's secret so it may register again (its old sessions then end)."""

    name: ClassVar[str] = "device_registration_reset"
    tenant_id: str
    device_id: str
    device_name: str
    actor: str
