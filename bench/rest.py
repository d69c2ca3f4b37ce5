"""The few admin REST calls scenarios make to set a hub up (sign in, add a customer user,
import a CSV), over loopback with the standard library: set-up, not load."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


def post_json(base: str, path: str, body: Any, jwt: str | None = None, timeout: float = 60) -> Any:
    headers = {"Content-Type": "application/json"}
    if jwt:
        headers["X-Authorization"] = f"Bearer {jwt}"
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def login(base: str, email: str, password: str) -> str:
    return post_json(base, "/api/auth/login", {"username": email, "password": password})["token"]


def admin_login(base: str, email: str, password: str) -> str:
    """The tenant admin every bench data dir has (bench.seed_db.ADMIN_EMAIL)."""
    return login(base, email, password)


def add_customer_user(base: str, admin_jwt: str, customer: str, email: str, password: str) -> None:
    created = post_json(base, "/api/customer", {"title": customer}, admin_jwt)
    customer_id = created["id"]["id"] if isinstance(created["id"], dict) else created["id"]
    post_json(base, "/api/user", {"email": email, "password": password, "authority": "CUSTOMER_USER",
                                  "customerId": {"id": customer_id, "entityType": "CUSTOMER"}}, admin_jwt)
