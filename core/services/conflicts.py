"""Which rule a write broke, and what the hub answers: the one place a unique violation
becomes a domain error.

The write path raises :class:`~gridlinks.core.storage.writes.ConstraintViolation`,
which names the table and the columns of the constraint (SQLite names them in its error,
PostgreSQL in the error's fields); the rule is looked up by those, never by searching
the message's text, so a device named "credentials" is not mistaken for a clash of
credentials. The answers are the reference's, word for word (clients match on them).
"""

from __future__ import annotations

from gridlinks.core.storage.writes import ConstraintViolation

DUPLICATE_DEVICE = "Device with such name already exists!"
CREDENTIALS_TAKEN = "Device credentials are already assigned to another device!"
DUPLICATE_PROFILE_KEY = "Device profile with such provision device key already exists!"
DUPLICATE_PROFILE_NAME = "Device profile with such name already exists!"
DUPLICATE_CUSTOMER = "Customer with such title already exists!"

# The unique rules of the schema (core/storage/models.py), by table and sorted columns.
DEVICE_NAME = "device name"
CREDENTIALS_ID = "credentials id"
ATTRIBUTE_KEY = "attribute key"
PROFILE_KEY = "profile provision key"
PROFILE_NAME = "profile name"
CUSTOMER_TITLE = "customer title"

UNIQUE_RULES: dict[tuple[str, tuple[str, ...]], str] = {
    ("device", ("name", "tenant_id")): DEVICE_NAME,
    ("device_credentials", ("credentials_id",)): CREDENTIALS_ID,
    ("attribute", ("device_id", "key", "scope")): ATTRIBUTE_KEY,
    ("device_profile", ("provision_key",)): PROFILE_KEY,
    ("device_profile", ("name", "tenant_id")): PROFILE_NAME,
    ("customer", ("tenant_id", "title")): CUSTOMER_TITLE,
}

_MESSAGES = {
    DEVICE_NAME: DUPLICATE_DEVICE,
    CREDENTIALS_ID: CREDENTIALS_TAKEN,
    PROFILE_KEY: DUPLICATE_PROFILE_KEY,
    PROFILE_NAME: DUPLICATE_PROFILE_NAME,
    CUSTOMER_TITLE: DUPLICATE_CUSTOMER,
}


def broken_rule(exc: BaseException) -> str | None:
    """The unique rule ``exc`` reports (one of the names above), or None if it is not a
    structured violation or not one of these rules."""
    if not isinstance(exc, ConstraintViolation) or exc.kind != "unique":
        return None
    return UNIQUE_RULES.get((exc.table, exc.columns))


def conflict_message(exc: BaseException, default: str = DUPLICATE_DEVICE) -> str:
    """The reference's message for the rule a write broke; ``default`` when the rule has
    no message of its own (the caller knows what it was writing)."""
    return _MESSAGES.get(broken_rule(exc) or "", default)


def provision_reason(exc: BaseException, device_existed: bool) -> str:
    """Why a provisioning unit was refused (the device's errorMsg and the audit reason):
    credentials someone else holds, a device provisioned once already (its
    provisioned-marker attribute exists, or the plan found the device), else its name."""
    rule = broken_rule(exc)
    if rule == CREDENTIALS_ID:
        return "requested credentials are already in use"
    if device_existed or rule == ATTRIBUTE_KEY:
        return "device is already provisioned"
    return "a device with this name already exists"
