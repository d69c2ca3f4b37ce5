"""``gridlinks pending list|approve|reject``: the approval inbox from the command line
(by request id, or ``--device NAME`` with ``--profile P`` when several profiles have one)."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from gridlinks.core.errors import BadRequest
from gridlinks.core.storage.models import now_ms
from gridlinks.plugins.approval.service import SERVICE, STATUSES

ACTOR = "cli"
out = Console()


def _ago(ms: int | None) -> str:
    if not ms:
        return "-"
    seconds = max(0, (now_ms() - ms) // 1000)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m ago"
    return f"{seconds // 60}m{seconds % 60:02d}s ago"


async def cmd_list(hub, args) -> int:
    service = hub.services[SERVICE]
    rows = await service.list(None, None if args.status == "open" else args.status)
    if args.json:
        print(json.dumps([service.to_json(r) for r in rows], indent=2))
        return 0
    table = Table("id", "device", "profile", "credentials", "via", "status", "attempts", "last seen")
    for r in rows:
        table.add_row(str(r.id), r.device_name, r.profile.name, r.credentials_type, r.transport or "-", r.status,
                      str(r.attempts), _ago(r.last_seen_ms))
    out.print(table)
    return 0


async def _target(hub, args):
    service = hub.services[SERVICE]
    if bool(args.id) == bool(args.device):
        raise BadRequest("name the request by its id or by --device NAME (one of them)")
    if args.id:
        return await service.get(None, args.id)
    return await service.by_device(None, args.device, args.profile)


async def cmd_approve(hub, args) -> int:
    row = await hub.services[SERVICE].approve(await _target(hub, args), ACTOR, args.reason)
    out.print(f"approved: device {row.device_name!r} (profile {row.profile.name!r}) may provision now "
              f"(request {row.id})", markup=False, highlight=False)
    return 0


async def cmd_reject(hub, args) -> int:
    row = await hub.services[SERVICE].reject(await _target(hub, args), ACTOR, args.reason)
    out.print(f"rejected: device {row.device_name!r} (profile {row.profile.name!r}), request {row.id}",
              markup=False, highlight=False)
    return 0


def _list_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--status", default="pending", choices=[*STATUSES, "open", "all"],
                   help="which requests (default pending; open: pending, approved or rejected)")
    p.add_argument("--json", action="store_true", help="print JSON")


def _decision_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", nargs="?", help="the request's id (see `gridlinks pending list`)")
    p.add_argument("--device", help="the device's name instead of the id")
    p.add_argument("--profile", help="with --device: the profile, when several have an open request")
    p.add_argument("--reason", help="kept in the audit log")


def register(register) -> None:
    register("list", cmd_list, group="pending", configure=_list_args, help="parked provision requests")
    register("approve", cmd_approve, group="pending", configure=_decision_args,
             help="approve: the device's next identical request succeeds")
    register("reject", cmd_reject, group="pending", configure=_decision_args, help="reject a parked request")
