"""The ``discovery:`` config section (docs/discovery.md); apart so that reading it
imports no zeroconf (the CLI loads every enabled plugin on each command)."""

from __future__ import annotations

from pydantic import Field

from gridlinks.core.config import Settings


class DiscoverySettings(Settings):
    enabled: bool = True
    # The IPv4 address to advertise (and send mDNS from); null: the hub's bind address,
    # or every address of this machine when the hub binds 0.0.0.0.
    interface: str | None = None
    name: str | None = Field(None, max_length=63, description='instance name; null: "GridLinks Hub on HOST"')
