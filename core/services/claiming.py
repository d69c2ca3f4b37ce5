"""Device claiming (SPEC.md section 2), the same whichever transport or API asks.

Two halves meet here. A device (or its gateway) registers claim info: a secret and how
long it is valid, accepted only while the device belongs to no customer and claiming is
allowed for it. A customer user then claims the device by name with that secret and it
is assigned to their customer. Where a pending secret comes from is up to the claim
strategy plugins (device-side info in the claim store, the ``claimingData`` attribute);
this service holds the rules around them:

- a wrong secret never erases pending claim info (the reference erases it, so anyone
  knowing a device's name could wipe a pending claim);
- failed attempts lock out the caller, never the device; failures about a device only
  slow its failed answers down (:mod:`gridlinks.core.services.claim_limits`), so nobody can keep
  the owner out by guessing;
- a gateway speaks only for the devices bound to it (server attribute
  ``lastConnectedGateway``, set by the tenant) and never replaces claim info the device
  or the tenant set;
- secrets are compared in constant time and never leave this module (not in events,
  not in logs);
- re-claim is for the owning customer's users and tenant admins only;
- every attempt fires an event with its ``outcome``, which the audit log keeps.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gridlinks.core.errors import BadRequest, ConfigError, Conflict, Forbidden, HubError, NotFound, TooManyAttempts
from gridlinks.core.events import ClaimRegistered, DeviceClaimed, DeviceReclaimed
from gridlinks.core.services import claim_limits
from gridlinks.core.services.claim_limits import AttemptLimiter
from gridlinks.core.services.devices import attribute_upsert
from gridlinks.core.services.permissions import PERMISSION_DENIED, Operation, Resource
from gridlinks.core.services.tokens import secrets_equal
from gridlinks.core.storage.lookups import Lookup
from gridlinks.core.storage.models import Attribute, Device, Scope, now_ms
from gridlinks.core.storage.writes import Delete, NoRowMatched, Op, Update
from gridlinks.core.types import ClaimInfo, ClaimStore, ClaimStrategy

if TYPE_CHECKING:
    from gridlinks.core.bus import EventBus
    from gridlinks.core.config import ClaimSettings
    from gridlinks.core.registry import Registry
    from gridlinks.core.services.audit import AuditLog
    from gridlinks.core.services.auth import Principal
    from gridlinks.core.services.devices import DeviceService
    from gridlinks.core.services.permissions import PermissionService
    from gridlinks.core.storage.database import Storage

log = logging.getLogger(__name__)

CLAIMING_ALLOWED = "claimingAllowed"
CLAIMING_DATA = "claimingData"
# The gateway a device is connected through (its id). Read from the SERVER scope, which
# only the tenant writes (REST, bulk import, dashboard), never from what a device sends.
LAST_CONNECTED_GATEWAY = "lastConnectedGateway"
SUCCESS = "SUCCESS"
CLAIMED = "CLAIMED"
FAILURE = "FAILURE"


DEVICE_NAME_MAX = 255  # the device.name column


def _no_ops(device: Device) -> list[Op]:
    return []


def lookup_name(name: object) -> str | None:
    """The name if a device could have it, else None (not a string, empty, longer than the
    column, a NUL or a lone surrogate): such a name is unknown, never a database error."""
    if not isinstance(name, str) or not name or len(name) > DEVICE_NAME_MAX or "\x00" in name:
        return None
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return name


def loggable(name: object) -> str:
    """A name as the audit log can keep it, whatever a caller sent."""
    return str(name).encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")[:DEVICE_NAME_MAX]


@dataclass
class ClaimResult:
    """What a customer claim came to: ``response`` is SUCCESS, CLAIMED or FAILURE."""

    response: str
    device: Device | None = None


def parse_claim_request(payload: Any, default_duration_ms: int) -> tuple[str, int]:
    """``{"secretKey": "...", "durationMs": 60000}``, every member optional; a missing
    secret is "", a missing or non-positive duration is the configured default."""
    if payload is None or payload == b"" or payload == "":
        payload = {}
    if not isinstance(payload, dict):
        raise BadRequest("claim request must be a JSON object")
    secret = payload.get("secretKey")
    if secret is None:
        secret = ""
    if not isinstance(secret, str):
        raise BadRequest("secretKey must be a string")
    duration = payload.get("durationMs")
    if duration is None:
        duration = 0
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or duration != duration:
        raise BadRequest("durationMs must be a number of milliseconds")
    duration = int(duration)
    return secret, duration if duration > 0 else default_duration_ms


def device_reply(error: HubError | None) -> dict[str, Any]:
    """The body a device is told its claim info's fate in (MQTT claim/response, CoAP)."""
    if error is None:
        return {"status": SUCCESS}
    return {"status": FAILURE, "errorMsg": str(error)}


class ClaimService:
    def __init__(self, settings: ClaimSettings, storage: Storage, bus: EventBus,
                 claim_strategies: Registry[ClaimStrategy], claim_stores: Registry[ClaimStore],
                 devices: DeviceService, permissions: PermissionService, audit: AuditLog | None = None):
        self.settings = settings
        self.storage = storage
        self.bus = bus
        self.claim_strategies = claim_strategies
        self.claim_stores = claim_stores
        self.devices = devices
        self.permissions = permissions
        self.audit = audit  # a successful claim's audit row commits in the claim's own unit
        self.store: ClaimStore | None = None
        self.strategies: list[ClaimStrategy] = []
        self._by_name = Lookup(storage, Device, "tenant_id", "name")  # a tenant's device by name
        self.limiter = AttemptLimiter(self._require_store, self.settings.max_failed_attempts,
                                      self.settings.lockout_s, self.settings.backoff_base_s,
                                      self.settings.backoff_max_s)

    def attach(self) -> None:
        """Pick the configured store and order the strategies, once plugins are loaded."""
        self.strategies = sorted(self.claim_strategies, key=lambda s: getattr(s, "order", 100))
        self.store = self.claim_stores.get(self.settings.store)
        if self.store is None and (self.strategies or self.claim_stores.names()):
            raise ConfigError(f"claim.store is {self.settings.store!r}, but no enabled plugin provides it "
                              f"(enabled claim stores: {', '.join(self.claim_stores.names()) or 'none'})")

    def _require_store(self) -> ClaimStore:
        if self.store is None:
            raise NotFound("claiming is not enabled on this hub")
        return self.store

    # -- the device side ----------------------------------------------------------------

    async def register(self, device: Device, payload: Any, transport: str, via: Device | None = None) -> ClaimInfo:
        """Keep the claim info a device sent (or its gateway sent for it). Refusals raise:
        BadRequest (malformed), Conflict (already has a customer, or a gateway would
        replace the device's or the tenant's own info), Forbidden (not allowed)."""
        event = {"tenant_id": str(device.tenant_id), "device_id": str(device.id), "device_name": device.name,
                 "transport": transport}
        if via is not None:
            event["gateway"] = via.name
        try:
            secret, duration_ms = parse_claim_request(payload, self.settings.duration_ms)
            await self._check_claimable(device)
            if via is not None:
                await self._check_gateway_may_replace(device)
            info = ClaimInfo(secret, now_ms() + duration_ms, gateway_id=str(via.id) if via is not None else None)
            for strategy in self.strategies:
                if await strategy.register(device, info) is not None:
                    break
            else:
                raise Forbidden("device-side claiming is not enabled on this hub")
        except HubError as exc:
            await self.bus.fire(ClaimRegistered(**event, outcome=FAILURE, reason=str(exc)))
            raise
        await self.bus.fire(ClaimRegistered(**event, outcome=SUCCESS, duration_ms=duration_ms,
                                            expiration_ms=info.expiration_ms))
        return info

    async def register_for_gateway(self, gateway: Device, payload: Any, transport: str) -> dict[str, dict[str, Any]]:
        """A gateway's ``{"Device A": {...claim request...}, ...}``: each device is
        registered on its own, and the answer says per device how it went."""
        error: HubError | None = None
        if not gateway.is_gateway:
            error = Forbidden("only a gateway device may send claim info for other devices")
        elif not isinstance(payload, dict) or not payload:
            error = BadRequest('gateway claim must be a JSON object {"device name": {claim request}, ...}')
        if error is not None:
            await self._gateway_refused(gateway, transport, error, gateway.name)
            raise error
        results: dict[str, dict[str, Any]] = {}
        for name, request in payload.items():
            try:
                device = await self._gateway_device(gateway, name, transport)
                await self.register(device, request, transport, via=gateway)
                results[name] = device_reply(None)
            except HubError as exc:
                results[name] = device_reply(exc)
        return results

    async def _gateway_device(self, gateway: Device, name: str, transport: str) -> Device:
        """A device the gateway may speak for: same tenant, enabled, and bound to this
        gateway. A device bound to no gateway is nobody's to speak for: otherwise any
        gateway could overwrite any unclaimed device's pending claim."""
        device = None
        if lookup_name(name) is not None:
            device = await Device.get_or_none(tenant_id=gateway.tenant_id, name=name)
        gateway_id = uuid.UUID(str(gateway.id))
        if device is None or not device.enabled or device.id == gateway_id \
                or await self.bound_gateway(device) != gateway_id:
            error = NotFound(f"device {name!r} is not known to this gateway")
            await self._gateway_refused(gateway, transport, error, loggable(name))
            raise error
        return device

    async def bound_gateway(self, device: Device) -> uuid.UUID | None:
        """The id of the gateway the device is connected through, as the tenant recorded
        it: server attribute ``lastConnectedGateway`` (the gateway device's id), else
        ``additionalInfo.lastConnectedGateway`` (which only the hub itself writes, as the
        reference does). Devices cannot write either. Anything unreadable is no gateway."""
        value = await self.devices.attribute_value(device, Scope.SERVER, LAST_CONNECTED_GATEWAY)
        if value is None:
            value = (device.additional_info or {}).get(LAST_CONNECTED_GATEWAY)
        if not isinstance(value, str):
            return None
        try:
            return uuid.UUID(value.strip())
        except ValueError:
            return None

    async def _check_gateway_may_replace(self, device: Device) -> None:
        """A gateway may replace claim info a gateway sent, never live claim info the
        device sent itself or the tenant set (``claimingData``): the gateway is trusted
        less than either, and must not be able to swap the secret the owner holds.
        (Look, then write: the claim store has no compare-and-set. A device sending its
        own info in the same instant can lose to its gateway; it may simply send again.)"""
        for strategy in self.strategies:
            info = await strategy.find(device)
            if info is not None and info.gateway_id is None and info.expiration_ms >= now_ms():
                raise Conflict("device has claim info of its own; a gateway may not replace it")

    async def _gateway_refused(self, gateway: Device, transport: str, error: HubError, device_name: str) -> None:
        await self.bus.fire(ClaimRegistered(
            outcome=FAILURE, reason=str(error), tenant_id=str(gateway.tenant_id),
            device_name=device_name, transport=transport, gateway=gateway.name))

    async def _check_claimable(self, device: Device) -> None:
        # Re-read: a session-oriented transport holds the Device it logged in with, and
        # the device may have been claimed since.
        device = await Device.get_or_none(id=device.id)
        if device is None:
            raise NotFound("device no longer exists")
        if device.customer_id is not None:
            raise Conflict("device is already assigned to a customer")
        allowed = await self.devices.attribute_value(device, Scope.SERVER, CLAIMING_ALLOWED)
        # An explicit false always refuses; otherwise the default decides, or the attribute must be true.
        if allowed is False or (not self.settings.allow_claiming_by_default and allowed is not True):
            raise Forbidden("claiming is not allowed for this device")

    async def pending(self, device: Device) -> ClaimInfo | None:
        """The first claim info a strategy has for the device (device-side first)."""
        for strategy in self.strategies:
            info = await strategy.find(device)
            if info is not None:
                return info
        return None

    # -- the customer side ----------------------------------------------------------------

    async def claim(self, who: Principal, device_name: str, secret: str, transport: str = "REST") -> ClaimResult:
        """Assign the named device to the caller's customer if the secret matches its
        pending claim info. NotFound for an unknown device, Forbidden without the
        permission, TooManyAttempts while locked out; otherwise a ClaimResult."""
        event: dict[str, Any] = {"tenant_id": str(who.tenant_id) if who.tenant_id else None,
                                 "device_name": loggable(device_name), "actor": who.email, "transport": transport}
        caller = claim_limits.caller(who.user_id)
        try:
            await self._require_claim_permission(who)
            if who.customer_id is None:
                raise Forbidden("claiming assigns the device to your customer, and this user has none")
            await self.limiter.check(caller)
            device = None
            if lookup_name(device_name) is not None:
                device = await self._by_name.one(who.tenant_id, device_name)
            if device is None:
                await self.limiter.failed_now(caller)
                raise NotFound("Requested item wasn't found!")
            event["device_id"] = str(device.id)
            if device.customer_id is None:
                # Counted before the secret is compared: a burst cannot outrun the limit.
                caller_here = claim_limits.caller_on_device(who.user_id, device.id)
                attempt = await self.limiter.begin(caller, caller_here)
        except HubError as exc:
            await self._fire_failed(DeviceClaimed, event, exc)
            raise
        if device.customer_id is not None:
            await self.bus.fire(DeviceClaimed(**event, outcome=CLAIMED,
                                              reason="device already has a customer"))
            return ClaimResult(CLAIMED)
        info = await self.pending(device)
        reason = self._refusal(info, secret)
        if reason is not None and await self._assigned_since(device):
            # A concurrent claim won between the read above and here (and used up the claim
            # info): this attempt lost a race, it did not guess wrong.
            await self.bus.fire(DeviceClaimed(**event, outcome=CLAIMED,
                                              reason="claimed concurrently by another request"))
            return ClaimResult(CLAIMED)
        if reason is not None:
            await self.limiter.failed(attempt)
            # Failures about the device, from whoever, hold its failed answers back for
            # longer and longer (capped); they never lock the device, so never the owner.
            delay_s = await self.limiter.backoff(claim_limits.device(device.id))
            await self.bus.fire(DeviceClaimed(**event, outcome=FAILURE, reason=reason,
                                              delay_ms=round(delay_s * 1000)))
            if delay_s > 0:
                await asyncio.sleep(delay_s)
            return ClaimResult(FAILURE)
        await self.limiter.succeeded(caller, caller_here)
        assert info is not None  # _refusal() refuses a device without claim info
        claimed = DeviceClaimed(**event, outcome=SUCCESS, customer_id=str(who.customer_id), source=info.source,
                                audited=self.audit is not None)
        if not await self._assign(device, who, [self.audit.row_op(claimed)] if self.audit is not None else []):
            await self.bus.fire(DeviceClaimed(**event, outcome=CLAIMED,
                                              reason="claimed concurrently by another request"))
            return ClaimResult(CLAIMED)
        await self._discard(device)
        await self.limiter.succeeded(claim_limits.device(device.id))
        # The guarded update changed this one column of the row just read; no second read.
        device.customer_id = who.customer_id
        await self.bus.fire(claimed)
        return ClaimResult(SUCCESS, device)

    @staticmethod
    async def _assigned_since(device: Device) -> bool:
        return await Device.filter(id=device.id, customer_id__isnull=False).exists()

    @staticmethod
    def _refusal(info: ClaimInfo | None, secret: str) -> str | None:
        """Why the claim fails, for the audit log, or None if it may go ahead. The
        secret is compared even when the info has expired, so timing tells nothing."""
        if info is None:
            return "no claim info for this device"
        matches = secrets_equal(secret or "", info.secret or "")
        if info.expiration_ms < now_ms():
            return "claim info has expired"
        return None if matches else "wrong secret key"

    async def _assign(self, device: Device, who: Principal, also: list[Op]) -> bool:
        """Assign and clean the claim attributes in one unit; False if another request
        assigned the device first (the guarded update, only while unassigned, settles
        the race: the loser's unit commits nothing)."""
        try:
            await self.storage.write([
                Update(Device, {"customer_id": who.customer_id}, {"id": device.id}, where_null=("customer_id",),
                       guard=True),
                *(Delete(Attribute, {"device_id": device.id, "scope": Scope.SERVER, "key": key})
                  for key in (CLAIMING_ALLOWED, CLAIMING_DATA)),
                # a strategy's own writes, in the same unit (a one-time claim code marked used)
                *(op for strategy in self.strategies for op in getattr(strategy, "claim_ops", _no_ops)(device)),
                *also,  # the claim's audit row: one commit, not two
            ])
        except NoRowMatched:
            return False
        return True

    async def _discard(self, device: Device) -> None:
        for strategy in self.strategies:
            await strategy.discard(device)

    async def reclaim(self, who: Principal, device_name: str, transport: str = "REST") -> None:
        """Take the device back from its customer, forget its claim info and, when
        claiming is not allowed by default, allow it again. Only a tenant admin or a user
        of the owning customer may do this."""
        event: dict[str, Any] = {"tenant_id": str(who.tenant_id) if who.tenant_id else None,
                                 "device_name": loggable(device_name), "actor": who.email, "transport": transport}
        try:
            await self._require_claim_permission(who)
            device = None
            if lookup_name(device_name) is not None:
                device = await self._by_name.one(who.tenant_id, device_name)
            if device is None:
                raise NotFound("Requested item wasn't found!")
            event["device_id"] = str(device.id)
            if not who.is_tenant_admin and (device.customer_id is None or device.customer_id != who.customer_id):
                raise Forbidden(PERMISSION_DENIED)
        except HubError as exc:
            await self._fire_failed(DeviceReclaimed, event, exc)
            raise
        previous = device.customer_id
        unit: list[Op] = [Update(Device, {"customer_id": None}, {"id": device.id})]
        if not self.settings.allow_claiming_by_default:
            unit.append(attribute_upsert(device.id, Scope.SERVER, CLAIMING_ALLOWED, True))
        await self.storage.write(unit)
        await self._discard(device)
        await self.bus.fire(DeviceReclaimed(**event, outcome=SUCCESS,
                                            customer_id=str(previous) if previous else None))

    async def _require_claim_permission(self, who: Principal) -> None:
        await self.permissions.require(who, Resource.DEVICE, Operation.CLAIM_DEVICES)

    async def _fire_failed(self, event_type: type[DeviceClaimed | DeviceReclaimed], event: dict[str, Any],
                           exc: HubError) -> None:
        outcome = ("NOT_FOUND" if isinstance(exc, NotFound) else "FORBIDDEN" if isinstance(exc, Forbidden)
                   else "LOCKED" if isinstance(exc, TooManyAttempts) else FAILURE)
        await self.bus.fire(event_type(**event, outcome=outcome, reason=str(exc)))
