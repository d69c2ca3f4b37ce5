"""The pre-provisioning hook: before a NEW device is created, plugins may allow, deny,
park (wait for a person) or allow with overrides (name, label, attributes, customer).
Docs: docs/pre-provision-hook.md.

Plugins implement the ``pre_provision`` hookspec (``core/hookspecs.py``); an
implementation returns ``None`` (no opinion), a :class:`PreProvisionDecision`, or an
awaitable of either (pluggy has no async hooks: the hub awaits what the call returns).
A hook that raises, times out or answers nonsense follows the profile's
``preProvisionFailMode`` (``fail-closed``, the default: the device is refused;
``fail-open``: that hook is ignored).

Combining several answers: any deny wins, then any pending; otherwise the device is
created with the overrides merged (for one field, the first answer that sets it wins).
The name is applied to the plan before the device's write; label, customer and
attributes follow in a second write right after it (validated before the first, so it
has nothing left to refuse). Every decision other than a plain allow is audited.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from gridlinks.core.bus import EventBus
from gridlinks.core.events import Outcome, ProvisionFailed
from gridlinks.core.services.audit import AuditLog
from gridlinks.core.services.devices import attribute_upsert
from gridlinks.core.storage.database import Storage
from gridlinks.core.storage.models import Customer, Device, DeviceProfile, Scope
from gridlinks.core.storage.writes import Op, Update
from gridlinks.core.types import ProvisionPlan, ProvisionRefused, ProvisionRequest

log = logging.getLogger(__name__)

FAIL_MODE = "preProvisionFailMode"  # provisionConfiguration member
FAIL_OPEN, FAIL_CLOSED = "fail-open", "fail-closed"
FAIL_MODES = (FAIL_OPEN, FAIL_CLOSED)
ALLOW, DENY, PENDING = "allow", "deny", "pending"
HOOK_TIMEOUT_S = 30.0  # a guard for in-process hooks; the webhook has its own, shorter one
MAX_NAME = 255
MAX_ATTRIBUTES = 100
# Request members that are secrets, whatever their case: never sent to a webhook.
SECRET_FIELDS = frozenset({"provisiondevicesecret", "token", "password", "hash"})
_SECRET_WORDS = ("secret", "password", "private")

Execute = Callable[[ProvisionRequest, DeviceProfile, ProvisionPlan], Awaitable[dict[str, Any]]]
AfterProvisioned = Callable[[dict[str, Any]], Awaitable[None]]


class PreProvisionError(Exception):
    """A hook could not decide (timeout, unreachable, a malformed answer): the profile's
    fail mode applies."""


@dataclass(frozen=True)
class Overrides:
    """What a hook changes about the device to be created (None: unchanged)."""

    name: str | None = None
    label: str | None = None
    attributes: dict[str, Any] | None = None  # server-scope attributes
    customer: str | None = None  # the customer's id or title, in the profile's tenant

    @classmethod
    def from_json(cls, data: Any) -> Overrides:
        """Checked overrides from a decoded answer; PreProvisionError if malformed."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise PreProvisionError("overrides must be an object")
        unknown = set(data) - {"name", "label", "attributes", "customer"}
        if unknown:
            raise PreProvisionError(f"unknown override(s): {', '.join(sorted(unknown))}")
        for key in ("name", "label", "customer"):
            value = data.get(key)
            if value is not None and (not isinstance(value, str) or len(value) > MAX_NAME):
                raise PreProvisionError(f"override {key} must be a string of at most {MAX_NAME} characters")
        if data.get("name") is not None and not data["name"].strip():
            raise PreProvisionError("override name is blank")
        attributes = data.get("attributes")
        if attributes is not None:
            if not isinstance(attributes, dict) or len(attributes) > MAX_ATTRIBUTES:
                raise PreProvisionError(f"override attributes must be an object of at most {MAX_ATTRIBUTES} keys")
            if any(not k.strip() or len(k) > MAX_NAME for k in attributes):
                raise PreProvisionError("override attribute keys must be 1 to 255 characters")
        return cls(data.get("name"), data.get("label"), attributes, data.get("customer"))

    def merged_under(self, first: Overrides) -> Overrides:
        """``first``'s fields where set, else these (attributes: merged, ``first`` winning)."""
        attributes = {**(self.attributes or {}), **(first.attributes or {})} or None
        return Overrides(first.name or self.name, first.label if first.label is not None else self.label,
                         attributes, first.customer or self.customer)

    def changes_after_create(self) -> bool:
        return self.label is not None or bool(self.attributes) or bool(self.customer)


@dataclass(frozen=True)
class PreProvisionDecision:
    """One hook's answer. ``after`` runs once the device was created (with the response
    body), e.g. to close an approval; ``source`` names the hook in audit reasons."""

    action: str
    reason: str = ""
    overrides: Overrides = field(default_factory=Overrides)
    source: str = ""
    after: AfterProvisioned | None = None

    @classmethod
    def allow(cls, overrides: Overrides | None = None, reason: str = "", source: str = "",
              after: AfterProvisioned | None = None) -> PreProvisionDecision:
        return cls(ALLOW, reason, overrides or Overrides(), source, after)

    @classmethod
    def deny(cls, reason: str, source: str = "") -> PreProvisionDecision:
        return cls(DENY, reason, Overrides(), source)

    @classmethod
    def pending(cls, reason: str, source: str = "") -> PreProvisionDecision:
        return cls(PENDING, reason, Overrides(), source)

    @classmethod
    def from_json(cls, data: Any, source: str = "") -> PreProvisionDecision:
        """``{"allow": true|false, "reason": "...", "overrides": {...}}`` (a webhook's answer)."""
        if not isinstance(data, dict) or not isinstance(data.get("allow"), bool):
            raise PreProvisionError('the answer must be a JSON object with "allow": true or false')
        reason = data.get("reason") or ""
        if not isinstance(reason, str):
            raise PreProvisionError("reason must be a string")
        reason = reason[:500]
        if not data["allow"]:
            return cls.deny(reason or "denied", source)
        return cls.allow(Overrides.from_json(data.get("overrides")), reason, source)


@dataclass(frozen=True, slots=True, kw_only=True)
class PreProvisionDecided(Outcome):
    """Fires when hooks overrode a new device (outcome OVERRIDDEN) or failed and were ignored (FAIL_OPEN)."""

    name: ClassVar[str] = "pre_provision_decided"
    reason: str
    transport: str
    tenant_id: str
    device_name: str
    profile: str
    device_id: str | None = None


def fail_mode(profile: DeviceProfile) -> str:
    """The profile's ``preProvisionFailMode``: ``fail-open`` (or true, the dashboard's
    checkbox) is fail-open; anything else fail-closed."""
    return FAIL_OPEN if (profile.provision_config or {}).get(FAIL_MODE) in (FAIL_OPEN, True) else FAIL_CLOSED


def _is_secret(name: str, value: Any) -> bool:
    lower = name.lower()
    if lower in SECRET_FIELDS or any(word in lower for word in _SECRET_WORDS):
        return True
    return isinstance(value, str) and "PRIVATE KEY" in value


def _scrub(value: Any) -> Any:
    """``value`` without secret members, at any depth."""
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if not _is_secret(str(k), v)}
    if isinstance(value, list):
        return [_scrub(v) for v in value if not _is_secret("", v)]
    return value


def public_request(request: ProvisionRequest, plan: ProvisionPlan | None = None) -> dict[str, Any]:
    """The request as a hook outside the hub may see it: every member except secrets
    (provisionDeviceSecret, token, password, hash, anything named *secret*, *password*,
    *private*, a PEM private key; at any depth), plus the name the hub would give the device."""
    fields = _scrub(request.fields)
    fields.setdefault("credentialsType", request.credentials_type)
    if plan is not None and plan.new_device_name and "deviceName" not in fields:
        fields["deviceName"] = plan.new_device_name
    return fields


@dataclass
class _Combined:
    action: str = ALLOW
    reasons: list[str] = field(default_factory=list)
    overrides: Overrides = field(default_factory=Overrides)
    after: list[AfterProvisioned] = field(default_factory=list)
    failed_open: list[str] = field(default_factory=list)


class PreProvisionGate:
    """Asks the ``pre_provision`` hook (through the plugin manager) and carries out the answer."""

    def __init__(self, storage: Storage, bus: EventBus, audit: AuditLog, timeout_s: float = HOOK_TIMEOUT_S):
        self.storage = storage
        self.bus = bus
        self.audit = audit
        self.timeout_s = timeout_s
        self._ask: Callable[..., list[Any]] | None = None

    def attach(self, ask: Callable[..., list[Any]]) -> None:
        """``ask(request=, profile=, plan=)``: the plugin manager's hook caller, bound to the hub."""
        self._ask = ask

    async def provision(self, request: ProvisionRequest, profile: DeviceProfile, plan: ProvisionPlan,
                        execute: Execute, failure_body: Mapping[str, Any]) -> dict[str, Any]:
        """Decide, then create the device through ``execute`` (the provisioning write) or
        answer ``failure_body`` plus ``"pending": true``; a denial raises ProvisionRefused."""
        combined = await self._decide(request, profile, plan)
        if combined.action == DENY:
            raise ProvisionRefused("pre-provisioning hook denied: " + "; ".join(combined.reasons))
        if combined.action == PENDING:
            await self._refused(request, profile, "pending: " + ("; ".join(combined.reasons) or "parked"))
            return {**failure_body, "pending": True}
        customer_id = await self._customer(profile, combined.overrides.customer)
        if combined.overrides.name:
            plan = dataclasses.replace(plan, new_device_name=combined.overrides.name.strip())
        body = await execute(request, profile, plan)
        if body.get("status") != "SUCCESS":
            return body
        if combined.failed_open:
            await self._announce(request, profile, body["deviceName"], "FAIL_OPEN", "; ".join(combined.failed_open),
                                 body["deviceId"])
        if combined.overrides != Overrides():
            await self._apply(request, profile, body, combined.overrides, customer_id)
        for after in combined.after:
            try:
                await after(body)
            except Exception as exc:  # noqa: BLE001  (the device exists; a follow-up must not undo its answer)
                log.warning("pre-provision follow-up failed for %s: %s", body["deviceName"], exc)
        return body

    async def _decide(self, request: ProvisionRequest, profile: DeviceProfile, plan: ProvisionPlan) -> _Combined:
        combined = _Combined()
        if self._ask is None:
            return combined
        mode = fail_mode(profile)
        try:
            answers: list[Any] = list(self._ask(request=request, profile=profile, plan=plan))
        except Exception as exc:  # noqa: BLE001  (a synchronous hook that raised: its fail mode applies)
            answers = [exc]
        if not any(a is not None for a in answers):
            return combined  # no hook has an opinion: nothing to await
        answers = await asyncio.gather(*(self._settle(a) for a in answers))
        first: list[PreProvisionDecision] = []
        for answer in answers:
            if isinstance(answer, BaseException):
                why = _describe(answer)
                log.warning("pre-provision hook failed (%s) for profile %s: %s", mode, profile.name, why)
                if mode == FAIL_CLOSED:
                    answer = PreProvisionDecision.deny(f"hook failed (fail-closed): {why}")
                else:
                    combined.failed_open.append(f"hook failed (fail-open): {why}")
                    continue
            if answer is None:
                continue
            if not isinstance(answer, PreProvisionDecision):
                combined.failed_open.append(f"a hook answered {type(answer).__name__}, ignored")
                continue
            first.append(answer)
        for wanted in (DENY, PENDING):
            chosen = [d for d in first if d.action == wanted]
            if chosen:
                combined.action = wanted
                combined.reasons = [f"{d.source}: {d.reason}" if d.source else d.reason for d in chosen]
                return combined
        for decision in first:
            combined.overrides = decision.overrides.merged_under(combined.overrides)
            if decision.after is not None:
                combined.after.append(decision.after)
        return combined

    async def _settle(self, answer: Any) -> Any:
        if isinstance(answer, BaseException) or not inspect.isawaitable(answer):
            return answer
        try:
            return await asyncio.wait_for(answer, self.timeout_s)
        except TimeoutError:
            return PreProvisionError(f"no answer within {self.timeout_s:g} s")
        except Exception as exc:  # noqa: BLE001  (any hook failure follows the fail mode)
            return exc

    async def _customer(self, profile: DeviceProfile, wanted: str | None) -> uuid.UUID | None:
        """The override's customer, checked before the device is written. An unknown one
        makes the decision fail (fail-closed: refused; fail-open: no customer)."""
        if not wanted:
            return None
        customer = None
        try:
            customer = await Customer.get_or_none(tenant_id=profile.tenant_id, id=uuid.UUID(wanted))
        except ValueError:
            pass
        if customer is None:
            customer = await Customer.get_or_none(tenant_id=profile.tenant_id, title=wanted)
        if customer is None:
            why = f"override customer {wanted!r} does not exist"
            if fail_mode(profile) == FAIL_CLOSED:
                raise ProvisionRefused(f"pre-provisioning hook failed (fail-closed): {why}")
            log.warning("pre-provision: %s; ignored (fail-open)", why)
            return None
        return customer.id

    async def _apply(self, request: ProvisionRequest, profile: DeviceProfile, body: dict[str, Any],
                     overrides: Overrides, customer_id: uuid.UUID | None) -> None:
        device_id = uuid.UUID(body["deviceId"])
        ops: list[Op] = []
        values: dict[str, Any] = {}
        if overrides.label is not None:
            values["label"] = overrides.label
        if customer_id is not None:
            values["customer_id"] = customer_id
        if values:
            ops.append(Update(Device, values, where={"id": device_id}))
        ops += [attribute_upsert(device_id, Scope.SERVER, k, v) for k, v in (overrides.attributes or {}).items()]
        applied = [k for k, v in (("name", overrides.name), ("label", overrides.label),
                                  ("attributes", overrides.attributes), ("customer", customer_id)) if v]
        event = self._event(request, profile, body["deviceName"], "OVERRIDDEN", "overrides: " + ", ".join(applied),
                            body["deviceId"])
        ops.append(self.audit.row_op(event))
        try:
            await self.storage.write(ops)
        except Exception as exc:  # noqa: BLE001  (the device is created; say what was not applied)
            log.warning("pre-provision overrides for %s not applied: %s", body["deviceName"], exc)
            return
        await self.bus.fire(event)

    @staticmethod
    def _event(request: ProvisionRequest, profile: DeviceProfile, name: str, outcome: str, reason: str,
               device_id: str | None = None) -> PreProvisionDecided:
        return PreProvisionDecided(outcome=outcome, reason=reason[:1000], transport=request.transport,
                                   tenant_id=str(profile.tenant_id), device_name=name, profile=profile.name,
                                   device_id=device_id, audited=outcome == "OVERRIDDEN")

    async def _announce(self, request: ProvisionRequest, profile: DeviceProfile, name: str, outcome: str,
                        reason: str, device_id: str | None = None) -> None:
        await self.bus.fire(self._event(request, profile, name, outcome, reason, device_id))

    async def _refused(self, request: ProvisionRequest, profile: DeviceProfile, reason: str) -> None:
        await self.bus.fire(ProvisionFailed(outcome="FAILURE", reason=reason, transport=request.transport,
                                            tenant_id=str(profile.tenant_id), device_name=request.device_name or "",
                                            profile=profile.name))


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, PreProvisionError) else f"{type(exc).__name__}: {text}"
