"""Charts drawn on the server: no chart library, no script, readable when printed.

One piece draws every chart (the overview's provisioning bars and the device page's
telemetry history lines): :func:`time_chart` lays out a time axis and a value axis and
takes the series' shapes. The plot is an SVG stretched to its box
(``preserveAspectRatio="none"``, strokes that do not scale); the axis labels are HTML
text placed in percent, so they keep the page's font size at any width: a phone shows
them as large as a desktop does, and every other time label is dropped when the box is
narrow (a container query in dashboard.css), so they never overlap.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from gridlinks.web.dashboard.stats import HOUR_MS, Bucket, hour_label

WIDTH, HEIGHT = 1000, 300  # the plot's own units; the box it is stretched to sets the real size
LABEL_EVERY_MS = 3 * HOUR_MS  # a time label every 3 hours, every 6 on a narrow chart


@dataclass(frozen=True)
class Frame:
    """The plotted window: time from ``start_ms`` to ``end_ms``, values from ``low`` to ``high``."""

    start_ms: int
    end_ms: int
    low: float
    high: float

    def x(self, ms: float) -> float:
        return (ms - self.start_ms) / max(self.end_ms - self.start_ms, 1) * WIDTH

    def y(self, value: float) -> float:
        return HEIGHT - (value - self.low) / ((self.high - self.low) or 1) * HEIGHT


def nice_step(span: float) -> float:
    """A round step (1, 2 or 5 times a power of ten) that cuts ``span`` in about two."""
    raw = span / 2 if span > 0 else 1
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def nice_range(low: float, high: float) -> tuple[float, float, float]:
    """(low, high, step) on round numbers around the data; a flat series gets room around it."""
    if high == low:
        pad = abs(high) * 0.1 or 1
        low, high = low - pad, high + pad
    step = nice_step(high - low)
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def number_label(value: float) -> str:
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:.3g}M"
    if abs(value) >= 10_000:
        return f"{value / 1000:.3g}k"
    return f"{round(value, 6):.6g}"


def _f(value: float) -> str:
    return f"{value:.1f}"


def time_chart(frame: Frame, shapes: Sequence[str], label: str, y_step: float, css: str = "") -> Markup:
    """The chart's HTML: value ticks every ``y_step``, time labels on whole hours every
    :data:`LABEL_EVERY_MS` (UTC), grid lines, and ``shapes`` (SVG markup in plot units)."""
    grid, y_labels, x_labels = [], [], []
    steps = round((frame.high - frame.low) / y_step) if y_step else 0
    for i in range(steps + 1):
        value = frame.low + i * y_step
        y = frame.y(value)
        grid.append(f'<line x1="0" x2="{WIDTH}" y1="{_f(y)}" y2="{_f(y)}" class="grid"/>')
        y_labels.append(f'<span style="bottom:{_f(100 - y / HEIGHT * 100)}%">{number_label(value)}</span>')
    first = frame.start_ms + (-frame.start_ms) % LABEL_EVERY_MS
    for ms in range(first, frame.end_ms + 1, LABEL_EVERY_MS):
        left = frame.x(ms) / WIDTH * 100
        if 2 <= left <= 98:  # a label cut by the edge helps nobody
            minor = " minor" if (ms // LABEL_EVERY_MS) % 2 else ""
            x_labels.append(f'<span class="tick{minor}" style="left:{_f(left)}%">{hour_label(ms)}</span>')
    return Markup(
        f'<figure class="chart {escape(css)}" role="img" aria-label="{escape(label)}">'
        f'<div class="chart-y" aria-hidden="true">{"".join(y_labels)}</div>'
        f'<div class="chart-plot"><svg viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="none" aria-hidden="true">'
        f'{"".join(grid)}{"".join(shapes)}</svg>'
        f'<div class="chart-x" aria-hidden="true">{"".join(x_labels)}</div></div></figure>')


def provisioning_chart(buckets: list[Bucket]) -> Markup:
    """Successes (green) and failures (red) per hour, stacked."""
    start = buckets[0].start_ms if buckets else 0
    end = buckets[-1].start_ms + HOUR_MS if buckets else HOUR_MS
    # At least 0..4, so the steps of a count stay whole numbers.
    low, high, step = nice_range(0, max(max((b.ok + b.failed for b in buckets), default=0), 4))
    frame = Frame(start, end, 0, high)
    slot = frame.x(start + HOUR_MS)
    bar = slot * 0.7
    shapes = []
    for b in buckets:
        x = frame.x(b.start_ms) + (slot - bar) / 2
        ok_top, fail_top = frame.y(b.ok), frame.y(b.ok + b.failed)
        title = f"{hour_label(b.start_ms)} UTC: {b.ok} provisioned, {b.failed} failed"
        shapes.append(f'<g><title>{title}</title>'
                      f'<rect x="{_f(x)}" y="{_f(ok_top)}" width="{_f(bar)}" height="{_f(HEIGHT - ok_top)}" '
                      f'class="ok"/>'
                      f'<rect x="{_f(x)}" y="{_f(fail_top)}" width="{_f(bar)}" height="{_f(ok_top - fail_top)}" '
                      f'class="fail"/></g>')
    return time_chart(frame, shapes, "Provisioning successes and failures per hour", step, "bars")


@dataclass(frozen=True)
class Point:
    ts: int
    value: float


def history_chart(key: str, points: list[Point], start_ms: int, end_ms: int) -> Markup:
    """One telemetry key over a window: a line through its points, each point marked
    (a round-capped zero-length stroke stays a dot when the plot is stretched)."""
    values = [p.value for p in points]
    low, high, step = nice_range(min(values, default=0), max(values, default=1))
    frame = Frame(start_ms, end_ms, low, high)
    coords = [(frame.x(p.ts), frame.y(p.value)) for p in points]
    shapes = []
    if len(coords) > 1:
        path = " ".join(f"{_f(x)},{_f(y)}" for x, y in coords)
        shapes.append(f'<polyline points="{path}" class="line" vector-effect="non-scaling-stroke"/>')
    for p, (x, y) in zip(points, coords, strict=True):
        when = time.strftime("%H:%M:%S", time.gmtime(p.ts / 1000))
        shapes.append(f'<path d="M{_f(x)} {_f(y)}h0" class="point" vector-effect="non-scaling-stroke">'
                      f'<title>{when} UTC: {escape(number_label(p.value))}</title></path>')
    return time_chart(frame, shapes, f"{key}, last 24 hours ({len(points)} points)", step, "line")
