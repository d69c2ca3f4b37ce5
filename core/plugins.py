"""Finds plugins and decides which run.

Every plugin, built-in or third-party, is an entry point in the group ``gridlinks``.
Installing one does nothing by itself: only names listed in the config's ``plugins:``
are registered (a device-auth hub must not gain a way in because a package was
installed). A listed name that is not installed, or two plugins under one name, fail
start-up with a message saying which.

The hub and the ``gridlinks`` command (which asks enabled plugins for their commands
before parsing its arguments) both load plugins through :func:`build_plugin_manager`;
:func:`describe_plugins` says what is installed and enabled (``gridlinks plugins``).
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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
    pm = _new_manager()
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


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


@dataclass(frozen=True)
class PluginInfo:
    """One line of ``gridlinks plugins``."""

    name: str
    enabled: bool
    hooks: list[str]
    module: str | None  # the entry point's target; None for a plugin given in code
    distribution: str | None  # the installed package providing the entry point
    version: str | None  # ... and its version
    error: str | None = None  # a disabled plugin that failed to import

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "version": self.version, "hooks": self.hooks, "enabled": self.enabled,
                "distribution": self.distribution, "module": self.module, "error": self.error}


def _hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    return sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])


def describe_plugins(pm: pluggy.PluginManager, include_disabled: bool = False) -> list[PluginInfo]:
    """The enabled plugins of ``pm`` in config order, then (``include_disabled``) every
    other installed plugin by name. A disabled plugin is imported to read its hooks, never
    registered with ``pm``."""
    installed = available_plugins()
    found: list[PluginInfo] = []
    for name, plugin in pm.list_name_plugin():
        ep = installed.get(name)
        dist = ep.dist if ep is not None else None
        found.append(PluginInfo(name, True, _hooks(pm, plugin), ep.value if ep else None,
                                dist.name if dist else None, dist.version if dist else None))
    if include_disabled:
        for name in sorted(set(installed) - {name for name, _ in pm.list_name_plugin()}):
            ep = installed[name]
            dist = ep.dist
            hooks: list[str] = []
            error = None
            try:
                spare = _new_manager()
                plugin = ep.load()
                spare.register(plugin, name=name)
                hooks = _hooks(spare, plugin)
            except Exception as exc:  # noqa: BLE001  (a broken optional package must not hide the others)
                error = f"{type(exc).__name__}: {exc}"
            found.append(PluginInfo(name, False, hooks, ep.value, dist.name if dist else None,
                                    dist.version if dist else None, error))
    return found
