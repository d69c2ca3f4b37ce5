"""Device refusals (unknown token, a body that is not JSON, over the payload limit) as
events, audited without letting a flood of bad requests flood the audit table.

Every refusal fires its event (:class:`DeviceAuthFailed` or :class:`DeviceRequestRejected`),
so the metrics and the live feed count each one. The audit log keeps the first of each
kind - the same event, transport and status - in a window of ``window_s`` seconds;
the others in that window fire with ``audited=True`` (the audit listener skips them) and
are counted. The next audited row of that kind carries ``suppressed``: how many alike
refusals were left out since the previous one. The key holds neither the token, the
reason's text nor the peer, so an attacker cycling tokens or bodies still makes at most
one row per kind per window (a dozen kinds: a few rows a minute, whatever the request
rate).

Tokens are masked (:func:`mask_token`) before they reach an event: events go to the audit
log and the live feed, and a wrong token is often a right one with a typo.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gridlinks.core.bus import EventBus
from gridlinks.core.events import DeviceAuthFailed, DeviceRequestRejected

WINDOW_S = 60.0
_MAX_KEYS = 256  # keys come from a small fixed set; a bound all the same


def mask_token(token: str | None) -> str | None:
    """At most the first 3 characters (fewer for a short token) and the length:
    ``"A1b***(20)"``. Enough to tell two devices apart in the log, useless to log in."""
    if token is None:
        return None
    shown = token[:min(3, len(token) // 4)]
    return f"{shown}***({len(token)})"


class DeviceRejections:
    """Fires refusal events; decides which of them the audit log keeps (see module doc)."""

    def __init__(self, bus: EventBus, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic):
        self.bus = bus
        self.window_s = window_s
        self._clock = clock
        self._windows: dict[tuple[Any, ...], list[float | int]] = {}  # key -> [window start, suppressed]

    def _audit_now(self, key: tuple[Any, ...]) -> tuple[bool, int | None]:
        """(write an audit row for this one?, suppressed count to put in it)."""
        now = self._clock()
        window = self._windows.get(key)
        if window is not None and now - window[0] < self.window_s:
            window[1] += 1
            return False, None
        if len(self._windows) >= _MAX_KEYS:
            self._windows.clear()
        self._windows[key] = [now, 0]
        suppressed = int(window[1]) if window is not None else 0
        return True, suppressed or None

    async def auth_failed(self, transport: str, status: str, reason: str, token: str | None = None) -> None:
        """A login or request refused for unknown credentials (401, 4.01, CONNACK refused)."""
        audit, suppressed = self._audit_now((DeviceAuthFailed, transport, status))
        await self.bus.fire(DeviceAuthFailed(outcome="FAILURE", transport=transport, status=status, reason=reason,
                                             token=mask_token(token), suppressed=suppressed, audited=not audit))

    async def request_rejected(self, transport: str, status: str, reason: str, device: Any = None) -> None:
        """A request refused for its body (400/413, 4.00/4.13). ``reason`` is the hub's
        message (it never quotes the body)."""
        audit, suppressed = self._audit_now((DeviceRequestRejected, transport, status))
        await self.bus.fire(DeviceRequestRejected(
            outcome="FAILURE", transport=transport, status=status, reason=reason[:200],
            tenant_id=str(device.tenant_id) if device is not None else None,
            device_id=str(device.id) if device is not None else None,
            device_name=getattr(device, "name", None), suppressed=suppressed, audited=not audit))
