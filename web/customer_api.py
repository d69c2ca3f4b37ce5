"""Admin REST for the people devices are claimed for: customers, customer users, and
the permission model (roles granted to user groups). Reference-shaped where the
reference has the call (``/api/customer``, ``/api/customers``, ``/api/user``,
``/api/customer/{id}/users``); roles and user groups follow the PE model in a smaller,
documented form (docs/claiming.md). Tenant admins only, inside their own tenant."""

from __future__ import annotations

from aiohttp import web

from gridlinks.core import hookimpl
from gridlinks.core.errors import BadRequest
from gridlinks.core.storage.models import Authority, Tenant
from gridlinks.core.storage.paging import parse_paging
from gridlinks.web.bodies import parse_body, parse_query
from gridlinks.web.openapi import api_doc
from gridlinks.web.openapi_schemas import CustomerOut, GroupOut, PageData, RoleOut, UserOut
from gridlinks.web.rest_auth import principal
from gridlinks.web.schemas import (
    CustomerBody,
    GroupBody,
    IdList,
    PageQuery,
    RoleBody,
    SearchPageQuery,
    UserBody,
    ref_id,
)

ADMINS = (Authority.TENANT_ADMIN,)


class CustomerApi:
    def __init__(self, hub):
        self.hub = hub

    async def _admin(self, request):
        return await principal(request, self.hub, *ADMINS)

    async def _page(self, request):
        return parse_paging(request.query.get("page"), request.query.get("pageSize"))

    # -- customers ----------------------------------------------------------------------

    @api_doc("Create (no id) or rename a customer", tag="customers", body=CustomerBody, response=CustomerOut)
    async def save_customer(self, request):
        who = await self._admin(request)
        body = await parse_body(request, CustomerBody, empty={})
        title = body.title
        customers = self.hub.customers
        if ref_id(body.id):
            customer = await customers.get(who.tenant_id, ref_id(body.id))
            customer = await customers.rename(customer, title)
        else:
            customer = await customers.create(await Tenant.get(id=who.tenant_id), title)
        return web.json_response(customers.to_json(customer))

    @api_doc("Customers, a page", tag="customers", query=SearchPageQuery, response=PageData[CustomerOut])
    async def list_customers(self, request):
        who = await self._admin(request)
        page, size = await self._page(request)
        search = parse_query(request, SearchPageQuery).textSearch
        result = await self.hub.customers.page(who.tenant_id, page, size, search)
        return web.json_response(result.to_json(self.hub.customers.to_json))

    @api_doc("A customer", tag="customers", response=CustomerOut)
    async def get_customer(self, request):
        who = await self._admin(request)
        customer = await self.hub.customers.get(who.tenant_id, request.match_info["id"])
        return web.json_response(self.hub.customers.to_json(customer))

    @api_doc("Delete a customer", tag="customers")
    async def delete_customer(self, request):
        who = await self._admin(request)
        await self.hub.customers.delete(await self.hub.customers.get(who.tenant_id, request.match_info["id"]))
        return web.Response(status=200)

    # -- users ------------------------------------------------------------------------------

    @api_doc("Create a customer user", tag="users", body=UserBody, response=UserOut)
    async def save_user(self, request):
        who = await self._admin(request)
        body = await parse_body(request, UserBody, empty={})
        if body.authority not in (None, Authority.CUSTOMER_USER):
            raise BadRequest("this call creates customer users (authority CUSTOMER_USER)")
        customer = await self.hub.customers.get(who.tenant_id, ref_id(body.customerId))
        user = await self.hub.customers.add_user(customer, body.email, body.password,
                                                 body.firstName or "", body.lastName or "")
        return web.json_response(self.hub.customers.user_json(user))

    @api_doc("A customer's users, a page", tag="users", query=PageQuery, response=PageData[UserOut])
    async def customer_users(self, request):
        who = await self._admin(request)
        customer = await self.hub.customers.get(who.tenant_id, request.match_info["id"])
        page, size = await self._page(request)
        result = await self.hub.customers.users(customer, page, size)
        return web.json_response(result.to_json(self.hub.customers.user_json))

    @api_doc("A user", tag="users", response=UserOut)
    async def get_user(self, request):
        who = await self._admin(request)
        user = await self.hub.customers.user(who.tenant_id, request.match_info["id"])
        return web.json_response(self.hub.customers.user_json(user))

    @api_doc("Delete a user", tag="users")
    async def delete_user(self, request):
        who = await self._admin(request)
        user = await self.hub.customers.user(who.tenant_id, request.match_info["id"])
        if user.id == who.user_id:
            raise BadRequest("you cannot delete yourself")
        await user.delete()
        return web.Response(status=200)

    # -- roles and user groups ------------------------------------------------------------

    @api_doc("Create a role", tag="roles and groups", body=RoleBody, response=RoleOut)
    async def save_role(self, request):
        who = await self._admin(request)
        body = await parse_body(request, RoleBody, empty={})
        tenant = await Tenant.get(id=who.tenant_id)
        role = await self.hub.permissions.create_role(tenant, body.name or "", body.permissions)
        return web.json_response(self.hub.permissions.role_json(role))

    @api_doc("The tenant's roles", tag="roles and groups", response=list[RoleOut])
    async def list_roles(self, request):
        who = await self._admin(request)
        roles = await self.hub.permissions.roles(who.tenant_id)
        return web.json_response([self.hub.permissions.role_json(r) for r in roles])

    @api_doc("Delete a role", tag="roles and groups")
    async def delete_role(self, request):
        who = await self._admin(request)
        await (await self.hub.permissions.role(who.tenant_id, request.match_info["id"])).delete()
        return web.Response(status=200)

    @api_doc("Create a user group", tag="roles and groups", body=GroupBody, response=GroupOut)
    async def save_group(self, request):
        who = await self._admin(request)
        body = await parse_body(request, GroupBody, empty={})
        customer = None
        if ref_id(body.customerId):
            customer = await self.hub.customers.get(who.tenant_id, ref_id(body.customerId))
        tenant = await Tenant.get(id=who.tenant_id)
        group = await self.hub.permissions.create_group(tenant, body.name or "", customer)
        return web.json_response(await self.hub.permissions.group_json(group))

    @api_doc("The tenant's user groups", tag="roles and groups", response=list[GroupOut])
    async def list_groups(self, request):
        who = await self._admin(request)
        groups = await self.hub.permissions.groups(who.tenant_id)
        return web.json_response([await self.hub.permissions.group_json(g) for g in groups])

    @api_doc("A user group", tag="roles and groups", response=GroupOut)
    async def get_group(self, request):
        who = await self._admin(request)
        group = await self.hub.permissions.group(who.tenant_id, request.match_info["id"])
        return web.json_response(await self.hub.permissions.group_json(group))

    @api_doc("Delete a user group", tag="roles and groups")
    async def delete_group(self, request):
        who = await self._admin(request)
        await (await self.hub.permissions.group(who.tenant_id, request.match_info["id"])).delete()
        return web.Response(status=200)

    async def _change_group(self, request, change, argument):
        """Load the addressed group, apply ``change(group, argument(who))``, answer with the group."""
        who = await self._admin(request)
        group = await self.hub.permissions.group(who.tenant_id, request.match_info["id"])
        await change(group, await argument(who))
        return web.json_response(await self.hub.permissions.group_json(group))

    def _users(self, request):
        async def users(who):
            ids = (await parse_body(request, IdList, empty=[])).ids()
            return [await self.hub.customers.user(who.tenant_id, i) for i in ids]
        return users

    def _role(self, request):
        async def role(who):
            return await self.hub.permissions.role(who.tenant_id, request.match_info["roleId"])
        return role

    @api_doc("Add users to a group", tag="roles and groups", body=IdList, response=GroupOut)
    async def add_users(self, request):
        return await self._change_group(request, self.hub.permissions.add_users, self._users(request))

    @api_doc("Remove users from a group", tag="roles and groups", body=IdList, response=GroupOut)
    async def remove_users(self, request):
        return await self._change_group(request, self.hub.permissions.remove_users, self._users(request))

    @api_doc("Grant a role to a group", tag="roles and groups", response=GroupOut)
    async def grant(self, request):
        return await self._change_group(request, self.hub.permissions.grant, self._role(request))

    @api_doc("Revoke a role from a group", tag="roles and groups", response=GroupOut)
    async def revoke(self, request):
        return await self._change_group(request, self.hub.permissions.revoke, self._role(request))


@hookimpl
def register_web_routes(hub, app):
    api = CustomerApi(hub)
    r = app.router
    r.add_post("/api/customer", api.save_customer)
    r.add_get("/api/customers", api.list_customers)
    r.add_get("/api/customer/{id}", api.get_customer)
    r.add_delete("/api/customer/{id}", api.delete_customer)
    r.add_get("/api/customer/{id}/users", api.customer_users)
    r.add_post("/api/user", api.save_user)
    r.add_get("/api/user/{id}", api.get_user)
    r.add_delete("/api/user/{id}", api.delete_user)
    r.add_post("/api/role", api.save_role)
    r.add_get("/api/roles", api.list_roles)
    r.add_delete("/api/role/{id}", api.delete_role)
    r.add_post("/api/userGroup", api.save_group)
    r.add_get("/api/userGroups", api.list_groups)
    r.add_get("/api/userGroup/{id}", api.get_group)
    r.add_delete("/api/userGroup/{id}", api.delete_group)
    r.add_post("/api/userGroup/{id}/addUsers", api.add_users)
    r.add_post("/api/userGroup/{id}/removeUsers", api.remove_users)
    r.add_post("/api/userGroup/{id}/roles/{roleId}", api.grant)
    r.add_delete("/api/userGroup/{id}/roles/{roleId}", api.revoke)
