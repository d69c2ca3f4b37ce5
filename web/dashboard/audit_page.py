"""The audit log page: what the hub did and why, filtered by action, outcome, device and
time. Rows come from :meth:`AuditLog.query`, always within the viewer's tenant."""

from __future__ import annotations

import calendar
import time

from aiohttp import web

from gridlinks.core.errors import NotFound
from gridlinks.web.dashboard.events import ClaimDataChanged, SecretRevealed
from gridlinks.web.dashboard.render import render, state
from gridlinks.web.dashboard.state import WHO

ACTIONS = ["device_provisioned", "provision_failed", "claim_registered", "device_claimed", "device_reclaimed",
           "bulk_import_finished", "user_login", ClaimDataChanged.name, SecretRevealed.name]
OUTCOMES = ["SUCCESS", "FAILURE", "NOT_FOUND", "CLAIMED", "FORBIDDEN", "LOCKED", "PARTIAL"]
PAGE_SIZE = 50


def parse_local_utc(text: str | None) -> int | None:
    """An ``<input type=datetime-local>`` value, read as UTC, in epoch ms; junk is ignored."""
    if not text:
        return None
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"):
        try:
            return calendar.timegm(time.strptime(text, fmt)) * 1000
        except ValueError:
            continue
    return None


async def audit_log(request: web.Request) -> web.Response:
    who = request[WHO]
    hub = state(request).hub
    q = request.query
    try:
        page = max(int(q.get("page") or 0), 0)
    except ValueError:
        page = 0
    device_name = (q.get("device") or "").strip()
    device_id, note = None, None
    if device_name:
        try:
            device_id = (await hub.devices.by_name(who.tenant_id, device_name)).id
        except NotFound:
            note = f"No device is named {device_name!r}; showing events recorded under that name."
    since, until = parse_local_utc(q.get("since")), parse_local_utc(q.get("until"))
    action, outcome = q.get("action") or None, q.get("outcome") or None
    if device_id is not None:
        total, rows = await hub.audit.query(tenant_id=who.tenant_id, action=action, outcome=outcome,
                                            device_id=device_id, since_ms=since, until_ms=until,
                                            limit=PAGE_SIZE, offset=page * PAGE_SIZE)
    else:
        total, rows = await hub.audit.query(tenant_id=who.tenant_id, action=action, outcome=outcome,
                                            since_ms=since, until_ms=until,
                                            limit=PAGE_SIZE * 4 if device_name else PAGE_SIZE,
                                            offset=0 if device_name else page * PAGE_SIZE)
        if device_name:
            rows = [r for r in rows if r.device_name == device_name][:PAGE_SIZE]
            total = len(rows)
    filters = {k: q.get(k, "") for k in ("action", "outcome", "device", "since", "until")}
    return render(request, "audit.html", rows=rows, total=total, page=page, page_size=PAGE_SIZE,
                  filters=filters, actions=ACTIONS, outcomes=OUTCOMES, note=note,
                  has_next=(page + 1) * PAGE_SIZE < total)
