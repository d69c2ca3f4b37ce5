"""The audit log: a bus listener that keeps every attempt and every change.

Services never write audit rows themselves; they fire facts and this listener persists
two kinds of them, one row each:
- attempts (``Outcome``: ``provision_failed`` with its reason, ``device_claimed``, ...),
- changes people make (``Change``: profiles, devices, customers and users created,
  changed or deleted from the admin API, the dashboard or the ``gridlinks`` command),
  recorded as ``SUCCESS``.
The row's ``actor`` is the event's own, else whoever the firing task acts for
(``core.events.acting_as``: ``cli:<os user>`` in the CLI, the signed-in user's e-mail in
a web request), so no command or handler writes audit code of its own. Secrets are never
part of event data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from tortoise.expressions import Q

from gridlinks.core.bus import EventBus
from gridlinks.core.events import Change, DeviceAuthFailed, DeviceRequestRejected, Event, Outcome, current_actor
from gridlinks.core.storage.database import Storage
from gridlinks.core.storage.models import AuditEvent
from gridlinks.core.storage.writes import Insert

log = logging.getLogger(__name__)

_COLUMNS = ("tenant_id", "transport", "device_id", "device_name", "actor", "reason")
_HUB_WIDE = (DeviceAuthFailed.name, DeviceRequestRejected.name)
SUCCESS = "SUCCESS"


class AuditLog:
    def __init__(self, storage: Storage, bus: EventBus):
        self.storage = storage
        self.bus = bus
        self._unsubscribe: list[Callable[[], None]] = []

    def attach(self) -> None:
        if not self._unsubscribe:
            self._unsubscribe = [self.bus.listen(kind, self._on_event) for kind in (Outcome, Change)]

    async def _on_event(self, event: Outcome | Change) -> None:
        if event.audited:
            return
        await self.storage.write([self.row_op(event)])

    def row_op(self, event: Event) -> Insert:
        """The audit row for an event, as a write that can join the unit it describes
        (one commit instead of two on the provisioning path)."""
        data = event.data()
        if data.get("actor") is None and (actor := current_actor()) is not None:
            data["actor"] = actor
        columns: dict[str, Any] = {k: data[k] for k in _COLUMNS if data.get(k) is not None}
        for k in ("tenant_id", "device_id"):
            if k in columns:
                columns[k] = str(columns[k])
        # What an attacker sends (an over-long device name) is cut to fit, never a
        # reason to lose the audit row.
        for k in ("device_name", "actor", "transport"):
            if k in columns:
                columns[k] = _fit(str(columns[k]), k)
        details = {k: v for k, v in data.items() if k not in _COLUMNS and k != "outcome"}
        outcome = event.outcome if isinstance(event, Outcome) else SUCCESS
        return Insert(AuditEvent, {"ts": event.time_ms, "action": event.name, "outcome": outcome,
                                   "details": details, **columns})

    async def query(self, *, tenant_id=None, action: str | None = None, outcome: str | None = None,
                    device_id=None, since_ms: int | None = None, until_ms: int | None = None,
                    limit: int = 100, offset: int = 0) -> tuple[int, list[AuditEvent]]:
        q = AuditEvent.all()
        if tenant_id is not None:
            # Device refusals for an unknown token have no tenant (nobody's device); the
            # hub has one tenant, whose admins see them with the rest.
            q = q.filter(Q(tenant_id=tenant_id) | Q(tenant_id__isnull=True, action__in=_HUB_WIDE))
        if action:
            q = q.filter(action=action)
        if outcome:
            q = q.filter(outcome=outcome)
        if device_id:
            q = q.filter(device_id=device_id)
        if since_ms is not None:
            q = q.filter(ts__gte=since_ms)
        if until_ms is not None:
            q = q.filter(ts__lte=until_ms)
        total = await q.count()
        rows = await q.order_by("-ts", "-id").offset(offset).limit(limit)
        return total, rows


def _fit(text: str, field: str) -> str:
    limit = AuditEvent._meta.fields_map[field].max_length
    return text if len(text) <= limit else text[:limit - 1] + "…"


def audit_json(row: AuditEvent) -> dict[str, Any]:
    return {
        "id": row.id, "ts": row.ts, "action": row.action, "outcome": row.outcome,
        "transport": row.transport, "deviceId": str(row.device_id) if row.device_id else None,
        "deviceName": row.device_name, "actor": row.actor, "reason": row.reason, "details": row.details,
    }
