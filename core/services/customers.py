"""Customers and their users: the owners devices are claimed for.

A customer belongs to one tenant and its title is unique there (the database says so);
a customer user belongs to one customer. Both the admin API and the CLI go through here.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError

from gridlinks.core.errors import BadRequest, Conflict, NotFound
from gridlinks.core.events import CustomerCreated, CustomerDeleted
from gridlinks.core.services.conflicts import DUPLICATE_CUSTOMER
from gridlinks.core.services.devices import NOT_FOUND
from gridlinks.core.storage.models import Authority, Customer, Tenant, User
from gridlinks.core.storage.paging import Page, page_of
from gridlinks.core.storage.writes import Delete

if TYPE_CHECKING:
    from gridlinks.core.bus import EventBus
    from gridlinks.core.services.auth import AuthService
    from gridlinks.core.storage.database import Storage


def entity_id(value: Any) -> uuid.UUID:
    """An id from a URL or JSON body; anything that is not a UUID is simply not found."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(NOT_FOUND) from None


async def one(model, message: str = NOT_FOUND, **filters: Any):
    """The single row matching ``filters`` (``None`` values are not filtered on), or NotFound."""
    row = await model.get_or_none(**{k: v for k, v in filters.items() if v is not None})
    if row is None:
        raise NotFound(message)
    return row


class CustomerService:
    def __init__(self, storage: Storage, bus: EventBus, auth: AuthService):
        self.storage = storage
        self.bus = bus
        self.auth = auth

    async def create(self, tenant: Tenant, title: str) -> Customer:
        customer = await self._save_title(Customer(tenant=tenant), title)
        await self.bus.fire(CustomerCreated(tenant_id=str(tenant.id), customer=customer.title))
        return customer

    async def rename(self, customer: Customer, title: str) -> Customer:
        return await self._save_title(customer, title)

    @staticmethod
    async def _save_title(customer: Customer, title: str) -> Customer:
        title = (title or "").strip()
        if not title:
            raise BadRequest("a customer needs a title")
        customer.title = title
        try:
            await customer.save()
        except IntegrityError:
            raise Conflict(DUPLICATE_CUSTOMER) from None
        return customer

    async def get(self, tenant_id: uuid.UUID | None, customer_id: Any) -> Customer:
        return await one(Customer, id=entity_id(customer_id), tenant_id=tenant_id)

    async def by_title(self, tenant_id: uuid.UUID, title: str) -> Customer:
        return await one(Customer, f"no customer titled {title!r}", tenant_id=tenant_id, title=title)

    async def page(self, tenant_id: uuid.UUID, page: int, page_size: int, text_search: str | None = None) -> Page:
        q = Customer.filter(tenant_id=tenant_id)
        if text_search:
            q = q.filter(title__icontains=text_search)
        return await page_of(q.order_by("title"), page, page_size)

    async def delete(self, customer: Customer) -> None:
        """Its devices become unassigned (the foreign key says SET NULL), its users go:
        one unit, so a failure leaves the customer and its users as they were."""
        await self.storage.write([Delete(User, {"customer_id": customer.id}), Delete(Customer, {"id": customer.id})])
        await self.bus.fire(CustomerDeleted(tenant_id=str(customer.tenant_id), customer=customer.title))

    async def add_user(self, customer: Customer, email: str, password: str, first_name: str = "",
                       last_name: str = "") -> User:
        tenant = await Tenant.get(id=customer.tenant_id)
        user = await self.auth.create_user(email, password, Authority.CUSTOMER_USER, tenant, customer)
        if first_name or last_name:
            user.first_name, user.last_name = first_name, last_name
            await user.save(update_fields=["first_name", "last_name"])
        return user

    async def users(self, customer: Customer, page: int, page_size: int) -> Page:
        return await page_of(User.filter(customer_id=customer.id).order_by("email"), page, page_size)

    async def user(self, tenant_id: uuid.UUID, user_id: Any) -> User:
        return await one(User, id=entity_id(user_id), tenant_id=tenant_id)

    @staticmethod
    def to_json(customer: Customer) -> dict[str, Any]:
        return {"id": {"entityType": "CUSTOMER", "id": str(customer.id)}, "createdTime": customer.created_ms,
                "tenantId": {"entityType": "TENANT", "id": str(customer.tenant_id)},
                "title": customer.title, "name": customer.title}

    @staticmethod
    def user_json(user: User) -> dict[str, Any]:
        return {"id": {"entityType": "USER", "id": str(user.id)}, "createdTime": user.created_ms,
                "tenantId": {"entityType": "TENANT", "id": str(user.tenant_id)} if user.tenant_id else None,
                "customerId": {"entityType": "CUSTOMER", "id": str(user.customer_id)} if user.customer_id else None,
                "email": user.email, "authority": user.authority, "firstName": user.first_name,
                "lastName": user.last_name, "name": user.email}
