"""What a device sends, decoded and checked once for every transport: JSON bodies,
the reference's telemetry shapes, key/value maps and attribute key lists.

These are pure functions (no storage, no hub) so the device API service
(:mod:`gridlinks.core.services.device_api`), the people's side of the device service
and the web forms share one set of rules. Every refusal is a :class:`BadRequest`
whose message is safe to show the caller.
"""

from __future__ import annotations

from typing import Any

from gridlinks.core.errors import BadRequest
from gridlinks.core.services.jsonlimits import loads_bounded
from gridlinks.core.storage.models import now_ms

MAX_KEY_LENGTH = 255  # the key columns are CharField(max_length=255); no stored key is longer
MAX_TS_MS = 2**63 - 1  # the BIGINT column; larger values cannot be stored


def decode_json(raw: bytes | str, what: str = "payload") -> Any:
    """JSON from a device or a person, or BadRequest saying what is wrong: bounded
    depth, no NaN/Infinity, no lone surrogates (see :mod:`gridlinks.core.services.jsonlimits`)."""
    return loads_bounded(raw, what)


def decode_optional_json(raw: bytes, what: str = "payload") -> Any:
    """Like :func:`decode_json`, but a blank payload means ``{}`` (claim info and
    attribute requests may be sent empty)."""
    return decode_json(raw, what) if raw.strip() else {}


def check_kv(values: Any, what: str) -> dict[str, Any]:
    """A JSON object of key/value pairs whose keys fit the key column."""
    if not isinstance(values, dict):
        raise BadRequest(f"{what} must be a JSON object of key/value pairs")
    for key in values:
        if not key or len(key) > MAX_KEY_LENGTH:
            raise BadRequest(f"{what} keys must be 1 to {MAX_KEY_LENGTH} characters")
    return values


def parse_telemetry(payload: Any) -> list[tuple[int, dict[str, Any]]]:
    """The reference's three telemetry shapes: {k: v}, {"ts": ms, "values": {...}}, or a list of either."""
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise BadRequest("telemetry is empty")
    out = []
    now = now_ms()
    for item in items:
        if isinstance(item, dict) and "ts" in item and "values" in item:
            ts = item["ts"]
            if isinstance(ts, bool) or not isinstance(ts, int) or not -MAX_TS_MS - 1 <= ts <= MAX_TS_MS:
                raise BadRequest("telemetry ts must be epoch milliseconds (a 64-bit integer)")
            out.append((ts, check_kv(item["values"], "telemetry values")))
        else:
            out.append((now, check_kv(item, "telemetry")))
    return out


def key_list(value: Any, name: str) -> list[str] | None:
    """An attribute key list as a device names it: ``"a, b,,c"`` (an HTTP or CoAP query
    parameter, or an MQTT request field) -> ``["a", "b", "c"]``; a JSON list of strings
    (MQTT) as it is; None when the parameter is absent. A key longer than any stored
    key is refused rather than searched for."""
    if value is None:
        return None
    if isinstance(value, str):
        keys = [k.strip() for k in value.split(",") if k.strip()]
    elif isinstance(value, list) and all(isinstance(k, str) for k in value):
        keys = value
    else:
        raise BadRequest(f"{name} must be a comma-separated string")
    if any(len(k) > MAX_KEY_LENGTH for k in keys):
        raise BadRequest(f"keys must be at most {MAX_KEY_LENGTH} characters")
    return keys
