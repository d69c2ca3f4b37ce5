"""The dashboard's approval inbox (``/ui/provision/pending``): open requests, approved
or rejected with one click, refreshed live from the dashboard's event feed (the page
re-reads its table when a ``provision_*`` event of the tenant arrives)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from gridlinks.core.errors import HubError
from gridlinks.plugins.approval.service import SERVICE
from gridlinks.web.dashboard.pages import Page
from gridlinks.web.dashboard.render import field, form, redirect, render, state, url
from gridlinks.web.dashboard.state import WHO

TEMPLATES = Path(__file__).resolve().parent / "templates"


async def inbox(request: web.Request) -> web.Response:
    who = request[WHO]
    service = state(request).hub.services[SERVICE]
    rows = await service.list(who.tenant_id, None)
    template = "approval_rows.html" if request.query.get("fragment") else "approval_inbox.html"
    return render(request, template, rows=rows, ttl_s=service.settings.pending_ttl_s)


async def _decide(request: web.Request, approve: bool) -> web.Response:
    who = request[WHO]
    service = state(request).hub.services[SERVICE]
    reason = field(await form(request), "reason") or None
    back = url(request, "approval_inbox")
    try:
        row = await service.get(who.tenant_id, request.match_info["id"])
        row = await (service.approve if approve else service.reject)(row, who.email, reason)
    except HubError as exc:
        raise redirect(back, str(exc), "error") from None
    verb = "approved: its next identical request succeeds" if approve else "rejected"
    raise redirect(back, f"Device {row.device_name} {verb}.")


async def approve(request: web.Request) -> web.Response:
    return await _decide(request, True)


async def reject(request: web.Request) -> web.Response:
    return await _decide(request, False)


def pages() -> list[Page]:
    return [
        Page("/provision/pending", inbox, "approval_inbox", menu="Approval inbox", order=35, icon="inbox",
             template_dir=TEMPLATES),
        Page("/provision/pending/{id}/approve", approve, "approval_approve", methods=("POST",)),
        Page("/provision/pending/{id}/reject", reject, "approval_reject", methods=("POST",)),
    ]
