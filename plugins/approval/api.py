"""REST for the approval inbox (tenant admins, ``X-Authorization: Bearer <JWT>``):

- ``GET /api/provision/pending[?status=pending|approved|rejected|expired|provisioned|open|all]``:
  ``{"data": [...], "totalElements": n}``, newest first (default: pending);
- ``POST /api/provision/pending/{id}/approve`` and ``.../reject``, body optional
  ``{"reason": "..."}``: the request after the transition; 404 unknown id, 400 (the
  admin API's answer to a conflict) when it is not in a state that allows it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints

from gridlinks.core.storage.models import Authority
from gridlinks.plugins.approval.service import ApprovalService
from gridlinks.web.bodies import parse_body
from gridlinks.web.openapi import api_doc
from gridlinks.web.rest_auth import principal

BASE = "/api/provision/pending"


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None


class StatusQuery(BaseModel):
    """The list's filter (documented; the service checks it)."""

    status: Literal["pending", "approved", "rejected", "expired", "provisioned", "open", "all"] = "pending"


class PendingPage(BaseModel):
    model_config = ConfigDict(extra="allow")
    data: list[dict[str, Any]]
    totalElements: int  # noqa: N815 - JSON name


class ApprovalApi:
    def __init__(self, hub, service: ApprovalService):
        self.hub = hub
        self.service = service

    async def _admin(self, request: web.Request):
        return await principal(request, self.hub, Authority.TENANT_ADMIN, Authority.SYS_ADMIN)

    @api_doc("Provision requests in the approval inbox, newest first", tag="approvals", query=StatusQuery,
             response=PendingPage)
    async def list(self, request: web.Request) -> web.Response:
        who = await self._admin(request)
        status = request.query.get("status") or "pending"
        rows = await self.service.list(who.tenant_id, None if status == "open" else status)
        return web.json_response({"data": [self.service.to_json(r) for r in rows], "totalElements": len(rows)})

    async def _decide(self, request: web.Request, approve: bool) -> web.Response:
        who = await self._admin(request)
        reason = (await parse_body(request, DecisionBody, empty={})).reason
        row = await self.service.get(who.tenant_id, request.match_info["id"])
        decide = self.service.approve if approve else self.service.reject
        return web.json_response(self.service.to_json(await decide(row, who.email, reason)))

    @api_doc("Approve a parked provision request (the device's next identical request succeeds)",
             tag="approvals", body=DecisionBody, response=dict[str, Any])
    async def approve(self, request: web.Request) -> web.Response:
        return await self._decide(request, True)

    @api_doc("Reject a parked provision request", tag="approvals", body=DecisionBody, response=dict[str, Any])
    async def reject(self, request: web.Request) -> web.Response:
        return await self._decide(request, False)


def add_routes(hub, app: web.Application, service: ApprovalService) -> None:
    api = ApprovalApi(hub, service)
    app.router.add_get(BASE, api.list)
    app.router.add_post(BASE + "/{id}/approve", api.approve)
    app.router.add_post(BASE + "/{id}/reject", api.reject)
