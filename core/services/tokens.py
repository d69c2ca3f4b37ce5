"""Random identifiers and secret comparison: the two things every credential path needs."""

from __future__ import annotations

import hmac
import os
import string
import threading
import uuid

ALPHANUMERIC = string.ascii_letters + string.digits

# Random bytes come from the OS CSPRNG (os.urandom, as ``secrets`` does), 4 kB per call:
# one getrandom() for ~100 provisionings instead of four each. That call lets go of the
# GIL, and the event loop then waits for the SQLite writer thread to hand it back, which
# a profile showed as ~7 % of a provisioning. A forked child starts with an empty pool,
# so no two processes ever share bytes.
_POOL_BYTES = 4096
_pool = bytearray()
_pool_lock = threading.Lock()


def _forget_pool() -> None:
    global _pool_lock
    _pool.clear()
    _pool_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)


def random_bytes(n: int) -> bytes:
    """``n`` bytes from the OS CSPRNG, drawn from a pool; each byte is handed out once."""
    if n > _POOL_BYTES // 4:
        return os.urandom(n)
    with _pool_lock:
        if len(_pool) < n:
            _pool[:] = os.urandom(_POOL_BYTES)
        out = bytes(_pool[-n:])
        del _pool[-n:]
    return out


def new_uuid() -> uuid.UUID:
    """A random (version 4) UUID, like ``uuid.uuid4()``, from :func:`random_bytes`."""
    return uuid.UUID(bytes=random_bytes(16), version=4)


_UNBIASED_LIMIT = 256 - 256 % len(ALPHANUMERIC)  # 248: bytes below it map evenly onto 62 symbols


def random_alnum(length: int = 20) -> str:
    """``length`` random ``[A-Za-z0-9]`` characters from the OS CSPRNG (keys, secrets, tokens).

    Rejection sampling over random bytes: as uniform as ``secrets.choice`` per character,
    an order of magnitude cheaper (a token is minted on every provisioning)."""
    out: list[str] = []
    while len(out) < length:
        out.extend(ALPHANUMERIC[b % 62] for b in random_bytes(length + 8) if b < _UNBIASED_LIMIT)
    return "".join(out[:length])


def secrets_equal(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; ``None`` never equals anything."""
    if given is None or expected is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
