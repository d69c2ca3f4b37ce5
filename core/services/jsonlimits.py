"""Bounded JSON decoding: what every transport accepts as a JSON document.

``json.loads`` alone accepts things the hub cannot store or safely walk:

- nesting deep enough to raise RecursionError inside the parser (a 500, and any later
  recursive walk of the value is at risk too), so depth is measured on the text first,
  before the parser recurses;
- ``NaN``, ``Infinity``, ``-Infinity`` and numbers like ``1e400`` that only become
  infinities: not JSON (RFC 8259), and PostgreSQL's json type refuses them;
- lone UTF-16 surrogates written as ``\\ud800`` escapes: valid JSON text, but not
  encodable as UTF-8, so neither SQLite nor PostgreSQL can store a key or value holding one.

Every refusal is a :class:`~gridlinks.core.errors.BadRequest` whose message says what
was wrong; the transports turn it into their own 4xx.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

from gridlinks.core.errors import BadRequest

MAX_DEPTH = 64

# A JSON string literal, written as an "unrolled loop" so it matches in linear time.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_DEPTH_STEP = [0] * 256
_DEPTH_STEP[ord("[")] = _DEPTH_STEP[ord("{")] = 1
_DEPTH_STEP[ord("]")] = _DEPTH_STEP[ord("}")] = -1
# A \u escape that may decode to half of a surrogate pair (D800-DFFF).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def nesting_depth_exceeds(utf8: bytes, limit: int = MAX_DEPTH) -> bool:
    """True if arrays/objects in the UTF-8 JSON text ``utf8`` open deeper than ``limit``.

    The running count of open brackets outside strings is exactly the depth the parser
    reaches (and an upper bound where the text turns out not to be JSON). Computed at C
    speed: strings cut out by one regex, everything but brackets dropped by
    ``bytes.translate``, the running sum by ``itertools.accumulate``; UTF-8 never puts a
    quote, backslash or bracket byte inside a multi-byte character."""
    if utf8.count(b"[") + utf8.count(b"{") <= limit:
        return False  # cannot nest deeper than its number of opening brackets
    brackets = _STRING.sub(b"", utf8).translate(None, _NOT_BRACKETS)
    if brackets.count(b"[") + brackets.count(b"{") <= limit:
        return False
    if re.search(rb"[\[{]{%d}" % (limit + 1), brackets):
        return True  # the common attack, a straight run of openers, found without the sum
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets))) > limit


def _reject_constant(name: str) -> Any:
    raise BadRequest(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadRequest(f"number {text[:40]} is out of range")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    """Walks the decoded value without recursion (its depth is already bounded, but an
    explicit stack costs nothing and never depends on the interpreter's limit)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            for key, member in item.items():
                if _SURROGATE.search(key):
                    return True
                stack.append(member)
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _text_and_utf8(raw: bytes | bytearray | str, what: str) -> tuple[str, bytes]:
    """The document as text, and as UTF-8 bytes for the depth scan."""
    if isinstance(raw, str):
        return raw, raw.encode("utf-8", "surrogatepass")
    raw = bytes(raw)
    # json.detect_encoding: the same UTF-8/16/32 detection json.loads applies to bytes.
    encoding = json.detect_encoding(raw)
    try:
        # Strict decoding refuses surrogates encoded directly in the bytes.
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise BadRequest(f"{what} is not valid JSON: not {encoding} ({exc.reason} at byte {exc.start})") from None
    return text, raw if encoding == "utf-8" else text.encode("utf-8", "surrogatepass")


def loads_bounded(raw: bytes | bytearray | str, what: str = "payload", max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that refuses, with BadRequest, what the hub cannot handle (see module doc)."""
    text, utf8 = _text_and_utf8(raw, what)
    if nesting_depth_exceeds(utf8, max_depth):
        raise BadRequest(f"{what} is nested deeper than {max_depth} levels")
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except BadRequest as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc}") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError; too many digits in an int
        raise BadRequest(f"{what} is not valid JSON: {exc}") from None
    may_hold_surrogates = _SURROGATE_ESCAPE.search(text) or (not text.isascii() and _SURROGATE.search(text))
    if may_hold_surrogates and _has_lone_surrogate(value):
        raise BadRequest(f"{what} holds a lone UTF-16 surrogate (\\ud800-\\udfff), which cannot be stored")
    return value
