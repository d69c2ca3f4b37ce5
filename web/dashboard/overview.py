"""The tenant overview: counts, the provisioning chart, the live feed and recent activity."""

from __future__ import annotations

from aiohttp import web

from gridlinks.web.dashboard import stats
from gridlinks.web.dashboard.chart import provisioning_chart
from gridlinks.web.dashboard.feed import feed_item
from gridlinks.web.dashboard.render import render, state
from gridlinks.web.dashboard.state import WHO


async def overview(request: web.Request) -> web.Response:
    who = request[WHO]
    hub = state(request).hub
    counts = await stats.counts(who.tenant_id)
    buckets = await stats.provisioning_buckets(who.tenant_id)
    _, recent = await hub.audit.query(tenant_id=who.tenant_id, limit=12)
    recent_items = [feed_item(r.action, r.ts, {"outcome": r.outcome, "device_name": r.device_name,
                                               "transport": r.transport, "reason": r.reason, "actor": r.actor})
                    for r in recent]
    return render(request, "overview.html", counts=counts, chart=provisioning_chart(buckets),
                  ok_total=sum(b.ok for b in buckets), failed_total=sum(b.failed for b in buckets),
                  recent=recent_items)
