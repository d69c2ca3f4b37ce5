"""Lock-out after repeated failed claim attempts, so a claim secret cannot be guessed.

Failures are counted per subject (a caller, a device) in the claim store, in a window
of ``claim.lockout_s``; the ``claim.max_failed_attempts``-th failure locks that subject
for ``claim.lockout_s``. Living in the claim store, the counters are shared by every
hub process once the store is shared (Redis); a success clears the subject's count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from gridlinks.core.errors import TooManyAttempts
from gridlinks.core.models import now_ms
from gridlinks.core.types import ClaimStore


@dataclass(frozen=True)
class Subject:
    """Something failed attempts are counted for; ``what`` names it in the 429 message."""

    key: str
    what: str


def caller(user_id: object) -> Subject:
    return Subject(f"user:{user_id}", "from this user")


def device(device_id: object) -> Subject:
    return Subject(f"device:{device_id}", "for this device")


class AttemptLimiter:
    def __init__(self, store: Callable[[], ClaimStore], max_failures: int, lockout_s: float,
                 prefix: str = "claim"):
        self._store = store
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.prefix = prefix

    @property
    def enabled(self) -> bool:
        return self.max_failures > 0 and self.lockout_s > 0

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
                seconds = math.ceil(remaining_ms / 1000)
                raise TooManyAttempts(f"Too many failed claim attempts {subject.what}; "
                                      f"try again in {seconds} s", remaining_ms / 1000)

    async def failed(self, *subjects: Subject) -> None:
        if not self.enabled:
            return
        store = self._store()
        for subject in subjects:
            count = await store.incr(self._count_key(subject), self.lockout_s)
            if count >= self.max_failures:
                await store.put(self._lock_key(subject), {"until_ms": now_ms() + int(self.lockout_s * 1000)},
                                self.lockout_s)
                await store.delete(self._count_key(subject))

    async def succeeded(self, *subjects: Subject) -> None:
        if not self.enabled:
            return
        for subject in subjects:
            await self._store().delete(self._count_key(subject))
