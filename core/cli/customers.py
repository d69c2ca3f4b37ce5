"""``gridlinks customer|role|group ...``: customers and the permission model from the
command line (customer users themselves: ``gridlinks user add --role customer-user
--customer NAME``). Kept beside :mod:`gridlinks.core.cli.main`, which mounts these."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from gridlinks.core.errors import BadRequest
from gridlinks.core.services.bootstrap import default_tenant
from gridlinks.core.storage.models import User

out = Console()


async def cmd_customer_add(hub, args) -> int:
    customer = await hub.customers.create(await default_tenant(hub), args.title)
    out.print(f"customer {customer.title!r} added (id {customer.id})")
    return 0


async def cmd_customer_list(hub, args) -> int:
    tenant = await default_tenant(hub)
    table = Table("title", "users", "devices", "id")
    for customer in (await hub.customers.page(tenant.id, 0, 1000)).rows:
        table.add_row(customer.title, str(await customer.users.all().count()),
                      str(await customer.devices.all().count()), str(customer.id))
    out.print(table)
    return 0


def _permissions(values: list[str]) -> dict[str, list[str]]:
    grants: dict[str, list[str]] = {}
    for value in values:
        resource, sep, operation = value.partition(":")
        if not sep or not resource or not operation:
            raise BadRequest(f"--permission {value!r} must look like RESOURCE:OPERATION (DEVICE:CLAIM_DEVICES)")
        grants.setdefault(resource.strip().upper(), []).append(operation.strip().upper())
    return grants


async def cmd_role_add(hub, args) -> int:
    role = await hub.permissions.create_role(await default_tenant(hub), args.name, _permissions(args.permission))
    out.print(f"role {role.name!r} added: {role.permissions}")
    return 0


async def cmd_group_add(hub, args) -> int:
    tenant = await default_tenant(hub)
    customer = await hub.customers.by_title(tenant.id, args.customer) if args.customer else None
    group = await hub.permissions.create_group(tenant, args.name, customer)
    out.print(f"user group {group.name!r} added" + (f" for customer {customer.title!r}" if customer else ""))
    return 0


async def cmd_group_add_user(hub, args) -> int:
    tenant = await default_tenant(hub)
    group = await hub.permissions.group_by_name(tenant.id, args.group)
    user = await User.get_or_none(email=args.email.strip().lower(), tenant_id=tenant.id)
    if user is None:
        raise BadRequest(f"no user {args.email} in this tenant")
    await hub.permissions.add_users(group, [user])
    out.print(f"{user.email} is in user group {group.name!r}")
    return 0


async def cmd_group_grant(hub, args) -> int:
    tenant = await default_tenant(hub)
    group = await hub.permissions.group_by_name(tenant.id, args.group)
    role = await hub.permissions.role_by_name(tenant.id, args.role)
    await hub.permissions.grant(group, role)
    out.print(f"user group {group.name!r} has role {role.name!r}")
    return 0


def add_commands(sub, common: argparse.ArgumentParser) -> None:
    customer = sub.add_parser("customer", help="customers (the owners devices are claimed for)") \
        .add_subparsers(dest="action", required=True)
    p = customer.add_parser("add", parents=[common])
    p.add_argument("--title", required=True)
    p.set_defaults(func=cmd_customer_add)
    customer.add_parser("list", parents=[common]).set_defaults(func=cmd_customer_list)

    role = sub.add_parser("role", help="roles: operations on resources").add_subparsers(dest="action", required=True)
    p = role.add_parser("add", parents=[common])
    p.add_argument("--name", required=True)
    p.add_argument("--permission", action="append", required=True, metavar="RESOURCE:OPERATION",
                   help="e.g. DEVICE:CLAIM_DEVICES (repeatable)")
    p.set_defaults(func=cmd_role_add)

    group = sub.add_parser("group", help="user groups: users that share roles") \
        .add_subparsers(dest="action", required=True)
    p = group.add_parser("add", parents=[common])
    p.add_argument("--name", required=True)
    p.add_argument("--customer", help="a group of this customer's users")
    p.set_defaults(func=cmd_group_add)
    p = group.add_parser("add-user", parents=[common])
    p.add_argument("--group", required=True)
    p.add_argument("--email", required=True)
    p.set_defaults(func=cmd_group_add_user)
    p = group.add_parser("grant", parents=[common])
    p.add_argument("--group", required=True)
    p.add_argument("--role", required=True)
    p.set_defaults(func=cmd_group_grant)
