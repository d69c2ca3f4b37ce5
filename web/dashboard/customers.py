"""Customers, their users, and who may do what (roles granted to user groups). The
rules are :class:`CustomerService`'s and :class:`PermissionService`'s."""

from __future__ import annotations

from aiohttp import web

from gridlinks.core.errors import BadRequest, HubError
from gridlinks.core.services.permissions import Operation, Resource
from gridlinks.core.storage.models import Device, Tenant
from gridlinks.web.dashboard.render import field, form, redirect, render, state, url
from gridlinks.web.dashboard.state import WHO

PAGE_SIZE = 50


async def customer_list(request: web.Request) -> web.Response:
    who = request[WHO]
    hub = state(request).hub
    try:
        page = max(int(request.query.get("page") or 0), 0)
    except ValueError:
        page = 0
    result = await hub.customers.page(who.tenant_id, page, PAGE_SIZE, request.query.get("q") or None)
    if request.method == "POST":
        data = await form(request)
        try:
            tenant = await Tenant.get(id=who.tenant_id)
            customer = await hub.customers.create(tenant, field(data, "title"))
        except HubError as exc:
            return render(request, "customers.html", status=400, result=result, error=str(exc),
                          q=request.query.get("q", ""))
        raise redirect(url(request, "customer", id=customer.id), f"Customer {customer.title} created.")
    return render(request, "customers.html", result=result, error=None, q=request.query.get("q", ""))


async def customer_page(request: web.Request) -> web.Response:
    who = request[WHO]
    hub = state(request).hub
    customer = await hub.customers.get(who.tenant_id, request.match_info["id"])
    error = None
    if request.method == "POST":
        data = await form(request)
        try:
            user = await hub.customers.add_user(customer, field(data, "email"), str(data.get("password") or ""),
                                                field(data, "first_name"), field(data, "last_name"))
        except HubError as exc:
            error = str(exc)
        else:
            raise redirect(url(request, "customer", id=customer.id), f"User {user.email} added.")
    users = await hub.customers.users(customer, 0, 200)
    device_count = await Device.filter(customer_id=customer.id).count()
    return render(request, "customer.html", status=400 if error else 200, customer=customer, users=users.rows,
                  device_count=device_count, error=error)


async def customer_delete(request: web.Request) -> web.Response:
    who = request[WHO]
    hub = state(request).hub
    customer = await hub.customers.get(who.tenant_id, request.match_info["id"])
    await hub.customers.delete(customer)
    raise redirect(url(request, "customers"), f"Customer {customer.title} deleted; its devices are unassigned.")


async def user_delete(request: web.Request) -> web.Response:
    who = request[WHO]
    hub = state(request).hub
    user = await hub.customers.user(who.tenant_id, request.match_info["user"])
    if user.id == who.user_id:
        raise BadRequest("You cannot delete yourself.")
    back = url(request, "customer", id=user.customer_id) if user.customer_id else url(request, "customers")
    await user.delete()
    raise redirect(back, f"User {user.email} deleted.")


# -- roles and groups -------------------------------------------------------------------

async def _roles_context(request: web.Request) -> dict:
    who = request[WHO]
    hub = state(request).hub
    roles = await hub.permissions.roles(who.tenant_id)
    groups = await hub.permissions.groups(who.tenant_id)
    group_views = []
    for group in groups:
        group_views.append({"group": group, "users": await group.users.all().order_by("email"),
                            "roles": await group.roles.all().order_by("name")})
    customers = (await hub.customers.page(who.tenant_id, 0, 500)).rows
    users = []
    for customer in customers:
        users.extend((await hub.customers.users(customer, 0, 500)).rows)
    return {"roles": roles, "groups": group_views, "customers": customers, "users": users,
            "resources": Resource.KNOWN, "operations": Operation.KNOWN}


async def roles_page(request: web.Request) -> web.Response:
    return render(request, "roles.html", error=None, **await _roles_context(request))


async def roles_action(request: web.Request) -> web.Response:
    """One endpoint for the page's small forms, told apart by ``action``."""
    who = request[WHO]
    hub = state(request).hub
    perms = hub.permissions
    data = await form(request)
    action = field(data, "action")
    try:
        tenant = await Tenant.get(id=who.tenant_id)
        if action == "create_role":
            grants: dict[str, list[str]] = {}
            for value in data.getall("perm", []):
                resource, _, operation = str(value).partition(":")
                grants.setdefault(resource, []).append(operation)
            await perms.create_role(tenant, field(data, "name"), grants)
            message = "Role created."
        elif action == "create_group":
            customer_ref = field(data, "customer")
            customer = await hub.customers.get(who.tenant_id, customer_ref) if customer_ref else None
            await perms.create_group(tenant, field(data, "name"), customer)
            message = "User group created."
        elif action == "add_user":
            group = await perms.group(who.tenant_id, field(data, "group"))
            await perms.add_users(group, [await hub.customers.user(who.tenant_id, field(data, "user"))])
            message = "User added to the group."
        elif action == "grant":
            group = await perms.group(who.tenant_id, field(data, "group"))
            await perms.grant(group, await perms.role(who.tenant_id, field(data, "role")))
            message = "Role granted to the group."
        else:
            raise BadRequest("Unknown action.")
    except HubError as exc:
        return render(request, "roles.html", status=400, error=str(exc), **await _roles_context(request))
    raise redirect(url(request, "roles"), message)
