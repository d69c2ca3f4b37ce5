"""The event bus: facts that happened (device_provisioned, provision_failed, ...).

Listeners are how the audit log, the dashboard's live feed and transports that push to
devices learn of things without the service that caused them knowing they exist.
``fire`` awaits every listener so callers can rely on, say, the audit row existing once
the request is answered; a failing listener is logged and the others still run.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

MATCH_ALL = "*"
# Fired with {"device_id"} when a device's credentials stop being valid (reset, replaced
# by an admin): session transports end that device's open sessions.
CREDENTIALS_REVOKED = "credentials_revoked"


@dataclass(frozen=True)
class Event:
    type: str
    data: dict[str, Any]
    time_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    # True when the audit row was already committed with the writes the event reports
    # (the provisioning hot path), so the audit listener does not write it again.
    audited: bool = False


Listener = Callable[[Event], Awaitable[None] | None]


class EventBus:
    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = defaultdict(list)

    def listen(self, event_type: str, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` for every event of this type (``"*"``: all).
        Returns the callable that unsubscribes it."""
        self._listeners[event_type].append(listener)

        def unsubscribe() -> None:
            try:
                self._listeners[event_type].remove(listener)
            except ValueError:
                pass

        return unsubscribe

    async def fire(self, event_type: str, data: dict[str, Any] | None = None, audited: bool = False) -> Event:
        event = Event(event_type, dict(data or {}), audited=audited)
        listeners = [*self._listeners.get(event_type, ()), *self._listeners.get(MATCH_ALL, ())]
        pending = []
        for listener in listeners:
            try:
                result = listener(event)
            except Exception:
                log.exception("event listener %r failed on %s", listener, event_type)
                continue
            if inspect.isawaitable(result):
                pending.append(result)
        # Awaited one after another rather than gathered: listeners are short, and
        # gather's task per listener cost more than the listeners on the hot paths.
        for awaitable in pending:
            try:
                await awaitable
            except Exception as exc:
                log.error("event listener failed on %s: %r", event_type, exc)
        return event
