"""GridLinks Hub core: config, event bus, plugin manager, storage and the services
(provisioning, claiming, credentials, devices, auth, audit) that plugins build on.

The core never imports ``gridlinks.plugins``: every transport, credential type and
strategy reaches it through the hooks in :mod:`gridlinks.core.hookspecs`.
"""

from gridlinks.core.hookspecs import hookimpl

__all__ = ["hookimpl"]
