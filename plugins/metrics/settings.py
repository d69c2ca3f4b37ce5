"""The ``metrics:`` config section (docs/metrics.md); apart so that reading it imports
no prometheus-client (the CLI loads every enabled plugin on each command)."""

from __future__ import annotations

from pydantic import Field

from gridlinks.core.config import Settings


class MetricsSettings(Settings):
    enabled: bool = True
    # A bearer token scrapers must send (Authorization: Bearer ...); null: none asked.
    token: str | None = Field(None, min_length=16)
    # How long the device count (a COUNT over the devices table) is reused between scrapes;
    # a device provisioned, created, imported or deleted on this node makes it stale at once.
    device_count_cache_s: float = Field(15.0, ge=0)
