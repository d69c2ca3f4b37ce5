"""LAN discovery: DNS-SD (mDNS) adverts of the hub's services, so devices on the LAN
find it without a configured address (docs/discovery.md).

Registered as a transport, listed after http/mqtt/coap: it starts once they listen,
advertises what is enabled, and says goodbye on stop.
"""

from __future__ import annotations

from gridlinks.core import hookimpl
from gridlinks.plugins.discovery.settings import DiscoverySettings


@hookimpl
def register_transports(hub, register):
    settings = hub.config.section("discovery", DiscoverySettings)
    if settings.enabled:
        from gridlinks.plugins.discovery.advertiser import LanAdvertiser  # zeroconf only when advertising

        register(LanAdvertiser(hub, settings))
