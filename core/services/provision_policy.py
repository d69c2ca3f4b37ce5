"""Provisioning policy: what a profile asks of a provision request beyond the reference's
key and secret (docs/provisioning.md).

All of it lives in the profile's ``provisionConfiguration`` (``DeviceProfile.provision_config``):

- ``derivedSecrets``: each device sends ``base64(HMAC-SHA256(profile secret, deviceName))``
  instead of the profile secret, which then provisions nothing;
- ``reprovisionPolicy``: ``NEVER`` (the reference), ``ROTATE`` or ``RESET`` for a name
  that exists, given proof that the request comes from that device;
- ``provisionTemplate``: label, server and shared attributes, customer, gateway;
- quotas: ``maxDevices``, ``maxProvisionsPerMinute``, ``provisionUntil`` (epoch ms);
- ``secretRotation`` (kept by the hub, set by :func:`rotation_config`): the previous
  secret, live beside the current one until the rotation is finished or expires.

The pure parts (parsing, derivation, secret matching) are functions; what reads the
database (proof, quotas, the template's customer) is :class:`ProvisionPolicyService`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field

from gridlinks.core.errors import BadRequest
from gridlinks.core.services.tokens import random_alnum, secrets_equal
from gridlinks.core.storage.models import Attribute, Customer, Device, DeviceProfile, ProvisionSlot, Scope, now_ms
from gridlinks.core.storage.writes import Delete, Insert, Op
from gridlinks.core.types import PresentedCredentials, ProfileSettings, ProvisionRefused, ProvisionRequest

if TYPE_CHECKING:
    from gridlinks.core.services.credentials import CredentialService

DERIVED_SECRETS = "derivedSecrets"
REPROVISION_POLICY = "reprovisionPolicy"
PROVISION_TEMPLATE = "provisionTemplate"
MAX_DEVICES = "maxDevices"
MAX_PER_MINUTE = "maxProvisionsPerMinute"
PROVISION_UNTIL = "provisionUntil"
SECRET_ROTATION = "secretRotation"  # kept by the hub: never taken from a REST body or a form
CURRENT_CREDENTIALS = "currentCredentials"  # the provision request member

NEVER, ROTATE, RESET = "NEVER", "ROTATE", "RESET"
REPROVISION_POLICIES = (NEVER, ROTATE, RESET)
POLICY_KEYS = (DERIVED_SECRETS, REPROVISION_POLICY, PROVISION_TEMPLATE, MAX_DEVICES, MAX_PER_MINUTE,
               PROVISION_UNTIL)
TEMPLATE_KEYS = ("label", "serverAttributes", "sharedAttributes", "customer", "gateway")
WINDOW_MS = 60_000
_INT_MAX = 2**31 - 1
_UNTIL_MAX = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def derive_secret(profile_secret: str, device_name: str) -> str:
    """The per-device secret: ``base64(HMAC-SHA256(key=profile secret, msg=device name))``."""
    digest = hmac.new(profile_secret.encode("utf-8"), device_name.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class ProvisionPolicySettings(ProfileSettings):
    """The policy members as the dashboard's profile form draws them (every strategy)."""

    model_config = ConfigDict(title="Provisioning policy")

    derived_secrets: bool = Field(False, alias=DERIVED_SECRETS, title="Per-device derived secrets",
                                  description="Devices send base64(HMAC-SHA256(profile secret, device name)); "
                                              "the profile secret itself then provisions nothing.")
    reprovision_policy: str = Field(NEVER, alias=REPROVISION_POLICY, title="A name that exists",
                                    description="NEVER: FAILURE (the reference). ROTATE: new credentials, old ones "
                                                "revoked. RESET: as ROTATE, and attributes reset to the template. "
                                                "Needs proof: a derived secret, currentCredentials or the certificate.",
                                    json_schema_extra={"choices": list(REPROVISION_POLICIES)})
    max_devices: str | None = Field(None, alias=MAX_DEVICES, title="Max devices",
                                     description="Empty: no limit.", json_schema_extra={"placeholder": "no limit"})
    max_per_minute: str | None = Field(None, alias=MAX_PER_MINUTE, title="Max provisionings per minute",
                                       description="Counted in the database, over every hub node.",
                                       json_schema_extra={"placeholder": "no limit"})
    until: str | None = Field(None, alias=PROVISION_UNTIL, title="Provision until",
                              description="An ISO date (UTC) or epoch ms; empty: no end.",
                              json_schema_extra={"placeholder": "2027-12-31"})
    template: str | None = Field(None, alias=PROVISION_TEMPLATE, title="Template (JSON)",
                                 description='{"label": "{deviceName} {date}", "serverAttributes": {}, '
                                             '"sharedAttributes": {}, "customer": "title or id", "gateway": false}',
                                 json_schema_extra={"textarea": True, "mono": True})


def factory_secret(profile: DeviceProfile, device_name: str) -> str | None:
    """What the factory writes into device ``device_name`` of ``profile`` as its
    ``provisionDeviceSecret``: the derived secret where the profile uses derived secrets,
    else None (such devices carry the profile's own secret). For reports such as the bulk
    import's: one call per device, no database access."""
    name = (device_name or "").strip()
    if not name or not profile.provision_secret or not Policy.of(profile).derived_secrets:
        return None
    return derive_secret(profile.provision_secret, name)


# -- the settings, parsed ------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    label: str = ""
    server_attributes: dict[str, Any] = field(default_factory=dict)
    shared_attributes: dict[str, Any] = field(default_factory=dict)
    customer: str = ""
    gateway: bool = False

    def label_for(self, device_name: str, at_ms: int) -> str:
        """``{deviceName}`` and ``{date}`` (UTC, YYYY-MM-DD) filled in; cut to the column's 255."""
        day = datetime.fromtimestamp(at_ms / 1000, UTC).date().isoformat()
        return self.label.replace("{deviceName}", device_name).replace("{date}", day)[:255]


@dataclass(frozen=True)
class Policy:
    derived_secrets: bool = False
    reprovision: str = NEVER
    template: Template | None = None
    max_devices: int | None = None
    max_per_minute: int | None = None
    until_ms: int | None = None

    @classmethod
    def of(cls, profile: DeviceProfile) -> Policy:
        """The policy a saved profile holds (saved values were checked by :func:`normalize`)."""
        config = profile.provision_config or {}
        raw = config.get(PROVISION_TEMPLATE)
        template = None
        if isinstance(raw, dict):
            template = Template(str(raw.get("label") or ""), dict(raw.get("serverAttributes") or {}),
                                dict(raw.get("sharedAttributes") or {}), str(raw.get("customer") or ""),
                                raw.get("gateway") is True)
        return cls(config.get(DERIVED_SECRETS) is True, config.get(REPROVISION_POLICY) or NEVER, template,
                   config.get(MAX_DEVICES), config.get(MAX_PER_MINUTE), config.get(PROVISION_UNTIL))


def _ascii_digits(text: str) -> bool:
    """0-9 only: ``str.isdigit`` also accepts "²", which ``int()`` refuses."""
    return text.isascii() and text.isdigit()


def _count(key: str, value: Any) -> int | None:
    """A positive count from JSON (an int) or a form / CLI (a digit string); empty: none."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and _ascii_digits(value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _INT_MAX:
        raise BadRequest(f"{key} must be a whole number from 1 to {_INT_MAX}")
    return value


def parse_until(value: Any) -> int | None:
    """``provisionUntil``: epoch ms, or an ISO date / date-time (UTC unless it says)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        if _ascii_digits(text):
            value = int(text)
        else:
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00")) if "T" in text or " " in text \
                    else datetime.combine(date.fromisoformat(text), datetime.min.time())
            except ValueError:
                raise BadRequest(f"{PROVISION_UNTIL} must be epoch milliseconds or an ISO date, "
                                 f"not {text[:40]!r}") from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            value = int(moment.timestamp() * 1000)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _UNTIL_MAX:
        raise BadRequest(f"{PROVISION_UNTIL} must be epoch milliseconds or an ISO date")
    return value


def _attributes(where: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and 0 < len(k) <= 255 for k in value):
        raise BadRequest(f"{PROVISION_TEMPLATE}.{where} must be an object of attribute keys (1-255 characters)")
    return value


def _template(value: Any) -> dict[str, Any] | None:
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, str):  # the dashboard's textarea, the CLI's file
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise BadRequest(f"{PROVISION_TEMPLATE} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequest(f"{PROVISION_TEMPLATE} must be an object")
    unknown = sorted(set(value) - set(TEMPLATE_KEYS))
    if unknown:
        raise BadRequest(f"{PROVISION_TEMPLATE}: unknown member(s) {', '.join(unknown)} "
                         f"(known: {', '.join(TEMPLATE_KEYS)})")
    for key in ("label", "customer"):
        if value.get(key) is not None and not isinstance(value[key], str):
            raise BadRequest(f"{PROVISION_TEMPLATE}.{key} must be a string")
    if value.get("gateway") is not None and not isinstance(value["gateway"], bool):
        raise BadRequest(f"{PROVISION_TEMPLATE}.gateway must be true or false")
    out: dict[str, Any] = {}
    if value.get("label"):
        out["label"] = value["label"]
    for key in ("serverAttributes", "sharedAttributes"):
        if attrs := _attributes(key, value.get(key)):
            out[key] = attrs
    if value.get("customer"):
        out["customer"] = value["customer"].strip()
    if value.get("gateway"):
        out["gateway"] = True
    return out or None


def normalize(config: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """A profile's provisionConfiguration with the policy members checked and in their
    stored form (REST, CLI and dashboard all save through here). Bad values: BadRequest.
    ``secretRotation`` is the hub's: taken from ``previous``, never from ``config``."""
    out = {k: v for k, v in config.items() if k not in POLICY_KEYS and k != SECRET_ROTATION}
    derived = config.get(DERIVED_SECRETS)
    if derived not in (None, False, True):
        raise BadRequest(f"{DERIVED_SECRETS} must be true or false")
    if derived:
        out[DERIVED_SECRETS] = True
    policy = config.get(REPROVISION_POLICY)
    if policy not in (None, ""):
        if not isinstance(policy, str) or policy.upper() not in REPROVISION_POLICIES:
            raise BadRequest(f"{REPROVISION_POLICY} must be one of {', '.join(REPROVISION_POLICIES)}")
        if policy.upper() != NEVER:
            out[REPROVISION_POLICY] = policy.upper()
    if (template := _template(config.get(PROVISION_TEMPLATE))) is not None:
        out[PROVISION_TEMPLATE] = template
    for key in (MAX_DEVICES, MAX_PER_MINUTE):
        if (count := _count(key, config.get(key))) is not None:
            out[key] = count
    if (until := parse_until(config.get(PROVISION_UNTIL))) is not None:
        out[PROVISION_UNTIL] = until
    if previous and isinstance(previous.get(SECRET_ROTATION), dict):
        out[SECRET_ROTATION] = previous[SECRET_ROTATION]
    return out


def public_config(config: dict[str, Any]) -> dict[str, Any]:
    """provisionConfiguration as REST shows it: the rotation's state, never the old secret."""
    out = dict(config)
    rotation = out.pop(SECRET_ROTATION, None)
    if isinstance(rotation, dict):
        out[SECRET_ROTATION] = {"since": rotation.get("since"), "previousExpiresAt": rotation.get("expiresAt")}
    return out


# -- secrets and their rotation ------------------------------------------------------------


def live_secrets(profile: DeviceProfile, at_ms: int | None = None) -> list[str]:
    """The profile's secret, and the previous one while a rotation has not ended."""
    out = [profile.provision_secret] if profile.provision_secret else []
    rotation = (profile.provision_config or {}).get(SECRET_ROTATION)
    if isinstance(rotation, dict) and rotation.get("previousSecret"):
        expires = rotation.get("expiresAt")
        if expires is None or (at_ms if at_ms is not None else now_ms()) < expires:
            out.append(rotation["previousSecret"])
    return out


def secret_matches(profile: DeviceProfile, request: ProvisionRequest) -> bool:
    """The request's secret against every live secret (or the device's derivation of
    each), all compared in constant time."""
    secrets = live_secrets(profile)
    if Policy.of(profile).derived_secrets:
        name = (request.device_name or "").strip()
        if not name:
            return False
        secrets = [derive_secret(s, name) for s in secrets]
    matched = False
    for candidate in secrets:
        matched |= secrets_equal(request.secret, candidate)
    return matched


def parse_duration_ms(text: str) -> int:
    """``7d``, ``12h``, ``30m``, ``45s`` (or plain seconds) in milliseconds."""
    units = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000}
    raw = (text or "").strip().lower()
    number, unit = (raw[:-1], raw[-1]) if raw and raw[-1] in units else (raw, "s")
    if not _ascii_digits(number) or not 0 < int(number) * units[unit] <= 10 * 365 * 86_400_000:
        raise BadRequest(f"expire-old-after must look like 7d, 12h, 30m or 45s, not {text[:20]!r}")
    return int(number) * units[unit]


def rotation_config(profile: DeviceProfile, *, finish: bool = False, expire_after_ms: int | None = None,
                    new_secret: str | None = None) -> tuple[str | None, dict[str, Any]]:
    """(the profile's new secret, its new provisionConfiguration) for a rotation step:
    start one (the current secret becomes the previous; ``expire_after_ms`` bounds it),
    change only the old secret's expiry of a running one (``expire_after_ms`` and no new
    secret while rotating), or ``finish`` it (the previous secret stops working)."""
    config = dict(profile.provision_config or {})
    rotation = config.get(SECRET_ROTATION) if isinstance(config.get(SECRET_ROTATION), dict) else None
    now = now_ms()
    if finish:
        if rotation is None:
            raise BadRequest("no secret rotation is running in this profile")
        config.pop(SECRET_ROTATION)
        return profile.provision_secret, config
    if rotation is not None and rotation.get("expiresAt") is not None and rotation["expiresAt"] <= now:
        rotation = None  # its old secret expired: the rotation is over, a new one may start
    expires = now + expire_after_ms if expire_after_ms is not None else None
    if rotation is not None and new_secret is None and expire_after_ms is not None:
        config[SECRET_ROTATION] = {**rotation, "expiresAt": expires}
        return profile.provision_secret, config
    if not profile.provision_secret:
        raise BadRequest("this profile has no secret to rotate")
    if rotation is not None:
        raise BadRequest("a secret rotation is running: finish it first (or set when the old secret expires)")
    secret = new_secret or random_alnum()
    config[SECRET_ROTATION] = {"previousSecret": profile.provision_secret, "since": now, "expiresAt": expires}
    return secret, config


# -- what the request proves ---------------------------------------------------------------


def presented_from_request(request: ProvisionRequest) -> list[PresentedCredentials]:
    """The credentials a re-provisioning request shows as proof: ``currentCredentials``
    (an access token, or ``{clientId, userName, password}``) and the TLS client certificate."""
    out: list[PresentedCredentials] = []
    current = request.fields.get(CURRENT_CREDENTIALS)
    if isinstance(current, str) and current:
        out.append(PresentedCredentials(request.transport, token=current))
    elif isinstance(current, dict):
        out.append(PresentedCredentials(request.transport, client_id=current.get("clientId"),
                                        username=current.get("userName") or current.get("username"),
                                        password=current.get("password")))
    if request.peer_certificate:
        out.append(PresentedCredentials(request.transport, certificate_der=request.peer_certificate))
    return out


def check_current_credentials(value: Any) -> None:
    """``currentCredentials`` in a request: a string, or an object of string members."""
    if value is None or isinstance(value, str):
        return
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values() if v is not None):
        raise BadRequest(f"{CURRENT_CREDENTIALS} must be a string or an object of strings")


class QuotaExceeded(ProvisionRefused):
    """A profile quota said no; ``quota`` names it (for the audit log and metrics)."""

    def __init__(self, quota: str, reason: str):
        super().__init__(reason)
        self.quota = quota


@dataclass(frozen=True)
class Reprovision:
    """An existing device a request may provision again: ``mode`` ROTATE or RESET;
    ``state_ms``: its provisionState's timestamp as read (None: it has none), so the write
    is guarded against a concurrent re-provisioning; ``proof``: how it proved itself."""

    device: Device
    mode: str
    proof: str
    state_ms: int | None


class ProvisionPolicyService:
    """The policy checks that read the database."""

    def __init__(self, credentials: CredentialService):
        self.credentials = credentials

    async def reprovision(self, request: ProvisionRequest, profile: DeviceProfile, policy: Policy,
                          device: Device) -> Reprovision:
        """The re-provisioning of ``device`` that ``request`` asks for, or ProvisionRefused."""
        if device.profile_id != profile.id:
            raise ProvisionRefused("a device with this name already exists")
        if not device.enabled:
            raise ProvisionRefused("device is disabled")
        # Read before the proof is checked: a concurrent re-provisioning that commits in
        # between either revokes the credentials shown as proof or moves the marker, and
        # the guarded write then refuses this one.
        state = await Attribute.get_or_none(device_id=device.id, scope=Scope.SERVER, key="provisionState")
        proof = await self.proof(request, policy, device)
        if proof is None:
            raise ProvisionRefused(f"re-provisioning ({policy.reprovision}) needs proof: a derived secret, "
                                   f"{CURRENT_CREDENTIALS} or the device's certificate")
        return Reprovision(device, policy.reprovision, proof, state.last_update_ms if state else None)

    async def existing(self, request: ProvisionRequest, profile: DeviceProfile) -> Device | None:
        name = (request.device_name or "").strip()
        if not name:
            return None
        return await Device.get_or_none(tenant_id=profile.tenant_id, name=name)

    async def proof(self, request: ProvisionRequest, policy: Policy, device: Device) -> str | None:
        """How the request proved it is ``device``, or None."""
        if policy.derived_secrets:
            return "derived secret"  # matched already, for this very name
        for presented in presented_from_request(request):
            found = await self.credentials.authenticate(presented)
            if found is not None and found.id == device.id:
                return "certificate" if presented.certificate_der else CURRENT_CREDENTIALS
        return None

    async def quota_ops(self, profile: DeviceProfile, policy: Policy, new_device: bool) -> list[Op]:
        """Raise QuotaExceeded if a quota says no; else the writes that count this one
        (a minute slot), to commit with the device."""
        now = now_ms()
        if policy.until_ms is not None and now > policy.until_ms:
            raise QuotaExceeded(PROVISION_UNTIL, f"quota {PROVISION_UNTIL}: provisioning ended at {policy.until_ms}")
        if new_device and policy.max_devices is not None:
            count = await Device.filter(profile_id=profile.id).count()
            if count >= policy.max_devices:
                raise QuotaExceeded(MAX_DEVICES, f"quota {MAX_DEVICES}: the profile has {count} of "
                                                 f"{policy.max_devices} devices")
        if policy.max_per_minute is None:
            return []
        window = now // WINDOW_MS
        windows = await ProvisionSlot.filter(profile_id=profile.id).values_list("window", flat=True)
        taken = sum(1 for w in windows if w == window)
        if taken >= policy.max_per_minute:
            raise QuotaExceeded(MAX_PER_MINUTE, f"quota {MAX_PER_MINUTE}: {policy.max_per_minute} "
                                                f"provisioned this minute")
        ops: list[Op] = [Delete(ProvisionSlot, {"profile_id": profile.id, "window": old})
                         for old in sorted({w for w in windows if w < window})[:8]]
        ops.append(Insert(ProvisionSlot, {"profile_id": profile.id, "window": window, "slot": taken}))
        return ops

    @staticmethod
    async def customer_id(profile: DeviceProfile, template: Template) -> uuid.UUID | None:
        """The template's customer (a title or an id in the profile's tenant)."""
        if not template.customer:
            return None
        customer = None
        try:
            customer = await Customer.get_or_none(tenant_id=profile.tenant_id, id=uuid.UUID(template.customer))
        except ValueError:
            pass
        if customer is None:
            customer = await Customer.get_or_none(tenant_id=profile.tenant_id, title=template.customer)
        if customer is None:
            raise ProvisionRefused(f"the profile template's customer {template.customer!r} does not exist")
        return customer.id


def is_slot_clash(exc: BaseException) -> bool:
    """A unit refused because another request took the same minute slot first."""
    return getattr(exc, "table", None) == ProvisionSlot._meta.db_table
