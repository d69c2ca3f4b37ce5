"""Finds plugins and decides which run.

Every plugin, built-in or third-party, is an entry point in the group ``gridlinks``.
Installing one does nothing by itself: only names listed in the config's ``plugins:``
are registered (a device-auth hub must not gain a way in because a package was
installed). A listed name that is not installed, or two plugins under one name, fail
start-up with a message saying which.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import pluggy

from gridlinks.core import hookspecs
from gridlinks.core.errors import ConfigError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "gridlinks"


def available_plugins() -> dict[str, importlib.metadata.EntryPoint]:
    """Every installed plugin by entry-point name; duplicates are an error."""
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found and found[ep.name].value != ep.value:
            raise ConfigError(
                f"two installed plugins are named {ep.name!r}: {found[ep.name].value} and {ep.value}")
        found[ep.name] = ep
    return found


def build_plugin_manager(enabled: Iterable[str], extra: Mapping[str, Any] | None = None) -> pluggy.PluginManager:
    """A plugin manager holding exactly the enabled plugins, in config order.

    ``extra`` maps names to plugin objects given in code (an embedding application's
    own plugin); they are enabled the same way, by being listed in ``enabled``.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    installed = available_plugins()
    extra = dict(extra or {})
    seen: set[str] = set()
    for name in enabled:
        if name in seen:
            raise ConfigError(f"plugin {name!r} is listed twice in the config")
        seen.add(name)
        if name in extra:
            plugin = extra[name]
        elif name in installed:
            try:
                plugin = installed[name].load()
            except Exception as exc:
                raise ConfigError(f"plugin {name!r} failed to load: {exc}") from exc
        else:
            raise ConfigError(
                f"plugin {name!r} is enabled in the config but not installed "
                f"(installed: {', '.join(sorted(installed)) or 'none'})")
        pm.register(plugin, name=name)
        log.debug("plugin %s enabled", name)
    return pm
