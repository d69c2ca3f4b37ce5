"""The provisioning chart as inline SVG, drawn on the server: no chart library, no
script, readable when printed, and it scales to any width (viewBox)."""

from __future__ import annotations

from markupsafe import Markup

from gridlinks.web.dashboard.stats import Bucket, hour_label

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 720, 220, 36, 24, 10


def _nice_max(value: int) -> int:
    for step in (5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000):
        if value <= step:
            return step
    return value


def provisioning_chart(buckets: list[Bucket]) -> Markup:
    top = _nice_max(max((b.ok + b.failed for b in buckets), default=0))
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = (WIDTH - PAD_LEFT) / max(len(buckets), 1)
    bar = max(slot * 0.7, 1)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="Provisioning successes and failures per hour">']
    for frac in (0, 0.5, 1):
        y = PAD_TOP + plot_h * (1 - frac)
        parts.append(f'<line x1="{PAD_LEFT}" x2="{WIDTH}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
                     f'{int(top * frac)}</text>')
    for i, b in enumerate(buckets):
        x = PAD_LEFT + i * slot + (slot - bar) / 2
        ok_h = plot_h * b.ok / top
        fail_h = plot_h * b.failed / top
        base = PAD_TOP + plot_h
        label = f"{hour_label(b.start_ms)} UTC: {b.ok} provisioned, {b.failed} failed"
        parts.append(f'<g><title>{label}</title>'
                     f'<rect x="{x:.1f}" y="{base - ok_h:.1f}" width="{bar:.1f}" height="{ok_h:.1f}" class="ok"/>'
                     f'<rect x="{x:.1f}" y="{base - ok_h - fail_h:.1f}" width="{bar:.1f}" height="{fail_h:.1f}" '
                     f'class="fail"/></g>')
        if i % 3 == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - 6}" class="axis" text-anchor="middle">'
                         f'{hour_label(b.start_ms)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
