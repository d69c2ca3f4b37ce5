"""Random identifiers and secret comparison: the two things every credential path needs."""

from __future__ import annotations

import hmac
import secrets
import string

ALPHANUMERIC = string.ascii_letters + string.digits


def random_alnum(length: int = 20) -> str:
    """``length`` random ``[A-Za-z0-9]`` characters from the OS CSPRNG (keys, secrets, tokens)."""
    return "".join(secrets.choice(ALPHANUMERIC) for _ in range(length))


def secrets_equal(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; ``None`` never equals anything."""
    if given is None or expected is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
