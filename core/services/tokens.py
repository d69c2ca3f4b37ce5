"""Random identifiers and secret comparison: the two things every credential path needs."""

from __future__ import annotations

import hmac
import secrets
import string

ALPHANUMERIC = string.ascii_letters + string.digits


_UNBIASED_LIMIT = 256 - 256 % len(ALPHANUMERIC)  # 248: bytes below it map evenly onto 62 symbols
# Byte b < 248 becomes symbol b % 62; bytes 248-255 are dropped (rejection sampling).
_TO_SYMBOL = bytes(ord(ALPHANUMERIC[b % len(ALPHANUMERIC)]) for b in range(256))
_REJECTED = bytes(range(_UNBIASED_LIMIT, 256))


def random_alnum(length: int = 20) -> str:
    """``length`` random ``[A-Za-z0-9]`` characters from the OS CSPRNG (keys, secrets, tokens).

    Rejection sampling over random bytes, done by ``bytes.translate`` in C: as uniform as
    ``secrets.choice`` per character, and a token is minted on every provisioning."""
    out = b""
    while len(out) < length:
        out += secrets.token_bytes(length + 8).translate(_TO_SYMBOL, _REJECTED)
    return out[:length].decode("ascii")


def secrets_equal(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; ``None`` never equals anything."""
    if given is None or expected is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
