"""The device page's telemetry history: one chart per numeric key over the last 24 hours,
drawn by :func:`gridlinks.web.dashboard.chart.history_chart` (the overview's chart code).

Reads are bounded whatever the device sends: at most :data:`MAX_KEYS` keys (those whose
latest value is a number), and a key with more than :data:`MAX_POINTS` rows in the window
is thinned by the database to its last row per :data:`BUCKETS`-th of the window (an
indexed range on (device, key, ts) grouped by bucket), never loaded whole."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from tortoise.expressions import RawSQL
from tortoise.functions import Max

from gridlinks.core.storage.models import Device, TimeseriesValue, now_ms
from gridlinks.web.dashboard.chart import Point, history_chart

WINDOW_MS = 24 * 3_600_000
MAX_KEYS = 8
MAX_POINTS = 500
BUCKETS = 288  # one point per 5 minutes of the 24 hours


@dataclass
class KeyHistory:
    key: str
    points: int
    chart: Markup


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


async def _rows(device: Device, key: str, start: int, end: int) -> list[tuple[int, Any]]:
    window = TimeseriesValue.filter(device_id=device.id, key=key, ts__gte=start, ts__lte=end)
    if await window.count() > MAX_POINTS:
        size = -(-(end - start) // BUCKETS)
        rows = await (window.annotate(bucket=RawSQL(f"(ts - {int(start)}) / {int(size)}"), last=Max("id"))
                      .group_by("bucket").values("bucket", "last"))
        window = TimeseriesValue.filter(id__in=[row["last"] for row in rows])
    return [(ts, (boxed or {}).get("v")) for ts, boxed in await window.order_by("ts").values_list("ts", "boxed")]


async def telemetry_history(device: Device, latest: dict[str, list[dict[str, Any]]],
                            now: int | None = None) -> list[KeyHistory]:
    """A chart for each numeric key of ``latest`` (the device's latest values), by key name."""
    end = now_ms() if now is None else now
    start = end - WINDOW_MS
    keys = [k for k, values in latest.items() if values and is_number(values[0]["value"])][:MAX_KEYS]
    out = []
    for key in keys:
        points = [Point(ts, float(v)) for ts, v in await _rows(device, key, start, end) if is_number(v)]
        if points:
            out.append(KeyHistory(key, len(points), history_chart(key, points, start, end)))
    return out
