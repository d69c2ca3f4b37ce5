"""Limits on claim attempts: lock out the caller who guesses, slow down the guessing of
a device, and never lock a device, so nobody can keep its owner out.

Three counts live in the claim store, each in a window of ``claim.lockout_s`` (the
window starts with its first failure):

- per caller, over every device (unknown device names included): the
  ``claim.max_failed_attempts``-th failure locks the caller out of claiming for
  ``claim.lockout_s`` (429 on every device);
- per (caller, device): the same threshold locks the caller out of that device. A
  success clears the caller's count, but this one only when that device is claimed, so
  a caller cannot reset the count for a victim's device by claiming one of their own;
- per device, over every caller: never locks. Each failed answer about the device is
  delayed ``claim.backoff_base_s * 2**(n-1)`` seconds, capped at ``claim.backoff_max_s``
  (n = that device's failures in the window), which slows many accounts guessing one
  device. The right secret is never delayed and never refused because of other callers.

Attempts are counted *before* the secret is compared (INCR first), so a burst of
concurrent requests from one caller gets no more comparisons than the threshold allows.
Living in the claim store, the counts are shared by every hub process once the store is
shared (Redis: INCR + EXPIRE, SET EX, GET, DEL; no other call is needed).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from gridlinks.core.errors import TooManyAttempts
from gridlinks.core.storage.models import now_ms
from gridlinks.core.types import ClaimStore


@dataclass(frozen=True)
class Subject:
    """Something failed attempts are counted for; ``what`` names it in the 429 message."""

    key: str
    what: str


def caller(user_id: object) -> Subject:
    return Subject(f"user:{user_id}", "from this user")


def caller_on_device(user_id: object, device_id: object) -> Subject:
    return Subject(f"user:{user_id}:device:{device_id}", "from this user for this device")


def device(device_id: object) -> Subject:
    """A device's failures from every caller: only ever slows answers down (``backoff``)."""
    return Subject(f"device:{device_id}", "for this device")


@dataclass
class Attempt:
    """The counts an attempt was given by :meth:`AttemptLimiter.begin`, one per subject."""

    counts: dict[Subject, int] = field(default_factory=dict)


class AttemptLimiter:
    def __init__(self, store: Callable[[], ClaimStore], max_failures: int, lockout_s: float,
                 backoff_base_s: float = 0.0, backoff_max_s: float = 0.0, prefix: str = "claim"):
        self._store = store
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.prefix = prefix

    @property
    def enabled(self) -> bool:
        return self.max_failures > 0 and self.lockout_s > 0

    @property
    def slows_down(self) -> bool:
        return self.backoff_base_s > 0 and self.backoff_max_s > 0 and self.lockout_s > 0

    def _lock_key(self, subject: Subject) -> str:
        return f"{self.prefix}:lock:{subject.key}"

    def _count_key(self, subject: Subject) -> str:
        return f"{self.prefix}:fails:{subject.key}"

    async def check(self, *subjects: Subject) -> None:
        """Raise TooManyAttempts if any subject is locked out right now."""
        if not self.enabled:
            return
        for subject in subjects:
            lock = await self._store().get(self._lock_key(subject))
            remaining_ms = int((lock or {}).get("until_ms", 0)) - now_ms()
            if remaining_ms > 0:
                raise self._locked(subject, remaining_ms)

    @staticmethod
    def _locked(subject: Subject, remaining_ms: int) -> TooManyAttempts:
        seconds = math.ceil(remaining_ms / 1000)
        return TooManyAttempts(f"Too many failed claim attempts {subject.what}; try again in {seconds} s",
                               remaining_ms / 1000)

    async def _lock(self, subject: Subject) -> None:
        store = self._store()
        await store.put(self._lock_key(subject), {"until_ms": now_ms() + int(self.lockout_s * 1000)},
                        self.lockout_s)
        await store.delete(self._count_key(subject))

    async def begin(self, *subjects: Subject) -> Attempt:
        """Count an attempt for each subject before its secret is compared. Raises
        TooManyAttempts if a subject is locked, or if this attempt is past the threshold
        (concurrent requests that all passed ``check``): that subject is locked then."""
        attempt = Attempt()
        if not self.enabled:
            return attempt
        await self.check(*subjects)
        for subject in subjects:
            count = await self._store().incr(self._count_key(subject), self.lockout_s)
            attempt.counts[subject] = count
            if count > self.max_failures:
                await self._lock(subject)
                raise self._locked(subject, int(self.lockout_s * 1000))
        return attempt

    async def failed(self, attempt: Attempt) -> None:
        """The attempt failed: the counts it was given stand; a subject at the threshold is locked."""
        for subject, count in attempt.counts.items():
            if count >= self.max_failures:
                await self._lock(subject)

    async def failed_now(self, *subjects: Subject) -> None:
        """Count a failure that compared no secret (an unknown device name)."""
        attempt = Attempt()
        if self.enabled:
            for subject in subjects:
                attempt.counts[subject] = await self._store().incr(self._count_key(subject), self.lockout_s)
        await self.failed(attempt)

    async def succeeded(self, *subjects: Subject) -> None:
        """Clear the subjects' counts (locks stay until they expire)."""
        if not (self.enabled or self.slows_down):
            return
        for subject in subjects:
            await self._store().delete(self._count_key(subject))

    async def backoff(self, subject: Subject) -> float:
        """Count a failure about ``subject`` (a device) and return how long to hold the
        failed answer back: exponential in the failures of the window, capped; 0 if off."""
        if not self.slows_down:
            return 0.0
        count = await self._store().incr(self._count_key(subject), self.lockout_s)
        return backoff_s(count, self.backoff_base_s, self.backoff_max_s)


def backoff_s(failures: int, base_s: float, max_s: float) -> float:
    """``base_s * 2**(failures-1)``, at most ``max_s``; 0 before the first failure."""
    if failures <= 0:
        return 0.0
    return min(base_s * 2.0 ** min(failures - 1, 64), max_s)
