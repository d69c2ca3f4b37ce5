"""Time-ordered row ids: UUID version 7 (RFC 9562), the creation time in milliseconds in
the first 48 bits, then 74 random bits.

Why not ``uuid4``: the ids are primary keys, and a device's id is also in its credentials,
its attributes and its audit rows, each under an index. Random keys put every new row on
a different page of each of those indexes; once a site holds a million devices the pages
no longer share a group commit, so each provisioning dirties (and writes to the WAL, and
checkpoints) about five more pages than with ids that grow with time, whose new entries
land together at one edge of each index (bench/analysis.md, "1M devices stored"). The
text form sorts like the number, so the same holds for the CHAR(36) columns of SQLite.

An id reveals when its row was created (to the millisecond), which the row's
``created_ms`` says anyway; it is no secret and never was one (access tokens are not ids)."""

from __future__ import annotations

import os
import time
import uuid

_RANDOM_BITS = 80  # after the 48-bit timestamp; 6 of them carry the version and the variant
_VERSION = 0x7 << 76
_VERSION_MASK = 0xF << 76
_VARIANT = 0x2 << 62  # RFC 4122 / 9562 variant: 0b10
_VARIANT_MASK = 0x3 << 62


def new_id(now_ms: int | None = None) -> uuid.UUID:
    """A fresh UUIDv7 for ``now_ms`` (default: now)."""
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    value = ((ms & 0xFFFF_FFFF_FFFF) << _RANDOM_BITS) | int.from_bytes(os.urandom(10), "big")
    value = (value & ~_VERSION_MASK & ~_VARIANT_MASK) | _VERSION | _VARIANT
    return uuid.UUID(int=value)


def id_time_ms(value: uuid.UUID) -> int:
    """The creation time (ms since the epoch) in a ``new_id``."""
    return value.int >> _RANDOM_BITS


_VARIANT_DIGITS = "89ab"


def new_id_texts(count: int) -> list[str]:
    """``count`` fresh UUIDv7s as text (``str(new_id())``'s form), from one clock reading
    and one ``os.urandom`` call: a bulk import needs two per line."""
    stamp = f"{time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF:012x}"
    head = f"{stamp[:8]}-{stamp[8:]}-7"
    raw = os.urandom(10 * count).hex()
    return [f"{head}{r[0:3]}-{_VARIANT_DIGITS[int(r[3], 16) & 3]}{r[4:7]}-{r[7:19]}"
            for r in (raw[i:i + 20] for i in range(0, 20 * count, 20))]
