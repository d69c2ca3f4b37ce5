"""The ``dashboard:`` config section: the claim widget's wording and switches (the
seeds' widget has "hide the secret field" and configurable messages)."""

from __future__ import annotations

from pydantic import Field

from gridlinks.core.config import Settings


class ClaimWidgetSettings(Settings):
    show_secret: bool = True
    title: str = "Claim a device"
    device_label: str = "Device name"
    secret_label: str = "Secret key"
    button_label: str = "Claim device"
    success_message: str = "Device was successfully claimed"
    claimed_message: str = "Device is already claimed"
    failure_message: str = "Failed to claim device"
    not_found_message: str = "Device not found"
    locked_message: str = "Too many failed attempts; try again later"


class DashboardSettings(Settings):
    title: str = "GridLinks Hub"
    # How phones reach the hub, for the claim QR code (e.g. https://hub.example.lan);
    # null = the address the admin's browser used.
    public_url: str | None = None
    page_size: int = Field(25, ge=5, le=200)
    # The device list counts matches exactly up to this many, then says "more than".
    count_cap: int = Field(1000, ge=100)
    max_upload_bytes: int = 16 * 1024 * 1024   # CSV files for bulk import
    claim_widget: ClaimWidgetSettings = Field(default_factory=ClaimWidgetSettings)
