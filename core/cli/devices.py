"""``gridlinks device list | delete``: mounted under ``device`` with the same mechanism as
plugins' commands (:mod:`gridlinks.core.cli.commands`), next to ``device add|import`` of
:mod:`gridlinks.core.cli.main`."""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

from gridlinks.core.cli.commands import Command
from gridlinks.core.errors import BadRequest, NotFound
from gridlinks.core.services.bootstrap import default_tenant
from gridlinks.core.storage.models import Customer, DeviceProfile
from gridlinks.core.storage.paging import MAX_PAGE_SIZE

out = Console(soft_wrap=True)
DEFAULT_PAGE_SIZE = 50


def _page_number(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("pages are numbered from 1")
    return number


def _page_size(value: str) -> int:
    number = _page_number(value)
    if number > MAX_PAGE_SIZE:
        raise argparse.ArgumentTypeError(f"at most {MAX_PAGE_SIZE} devices per page")
    return number


def configure_list(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="only devices of this profile")
    parser.add_argument("--search", help="only devices whose name contains this (any case)")
    parser.add_argument("--page", type=_page_number, default=1, help="page to show (from 1)")
    parser.add_argument("--page-size", type=_page_size, default=DEFAULT_PAGE_SIZE,
                        help=f"devices per page (default {DEFAULT_PAGE_SIZE}, at most {MAX_PAGE_SIZE})")


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ms / 1000))


async def cmd_device_list(hub, args) -> int:
    """Newest first, one page at a time; the footer says how to get the next one."""
    tenant = await default_tenant(hub)
    profile = await hub.profiles.by_name(tenant, args.profile) if args.profile else None
    page = await hub.devices.page(tenant.id, args.page - 1, args.page_size, args.search or None,
                                  profile_id=profile.id if profile else None)
    profiles = dict(await DeviceProfile.filter(tenant_id=tenant.id).values_list("id", "name"))
    customer_ids = {d.customer_id for d in page.rows if d.customer_id}
    customers = dict(await Customer.filter(id__in=customer_ids).values_list("id", "title")) if customer_ids else {}
    table = Table("name", "profile", "type", "customer", "created")
    table.columns[0].overflow = "fold"  # long names wrap whole, never cut
    for column in table.columns[1:]:
        column.overflow = "fold"
    table.columns[4].no_wrap = True
    for device in page.rows:
        table.add_row(device.name, profiles.get(device.profile_id, "?"), device.type,
                      customers.get(device.customer_id, "-"), _when(device.created_ms))
    if page.rows:
        out.print(table)
    what = " matching" if args.profile or args.search else ""
    if not page.total:
        out.print(f"no{what} devices")
    elif not page.rows:
        raise BadRequest(f"page {args.page} is past the last one ({page.total_pages})")
    else:
        footer = f"page {args.page} of {page.total_pages} ({page.total}{what} device(s))"
        if args.page < page.total_pages:
            footer += f"; next: --page {args.page + 1}"
        out.print(footer, markup=False, highlight=False)
    return 0


def configure_delete(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True)


async def cmd_device_delete(hub, args) -> int:
    tenant = await default_tenant(hub)
    try:
        device = await hub.devices.by_name(tenant.id, args.name)
    except NotFound:
        raise BadRequest(f"no device named {args.name!r}") from None
    await hub.devices.delete(device)
    out.print(f"device {device.name!r} deleted (its credentials stop working)", markup=False, highlight=False)
    return 0


COMMANDS = (
    Command("list", cmd_device_list, "device", "list devices, newest first, a page at a time", configure_list),
    Command("delete", cmd_device_delete, "device", "delete a device and its credentials", configure_delete),
)
