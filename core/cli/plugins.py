"""``gridlinks plugins``: which plugins run, from which package and version, with which
hooks (as ``datasette plugins``). ``--all`` adds installed plugins the config does not
enable; ``--json`` prints a list of objects for scripts."""

from __future__ import annotations

import argparse
import json

import pluggy
from rich.console import Console

from gridlinks.core.plugins import describe_plugins


def add_command(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("plugins", parents=[common], help="list plugins: name, version, hooks, enabled")
    p.add_argument("--all", action="store_true", help="also list installed plugins the config does not enable")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=None, list_plugins=run)


def run(pm: pluggy.PluginManager, args: argparse.Namespace, out: Console) -> int:
    plugins = describe_plugins(pm, include_disabled=args.all)
    if args.json:
        print(json.dumps([plugin.as_json() for plugin in plugins], indent=2))
        return 0
    # Plain lines, not a table: names, versions and hook names stay whole at any width.
    for plugin in plugins:
        version = f"{plugin.distribution} {plugin.version}" if plugin.distribution else "given in code"
        out.print(f"{plugin.name}  ({version})  {'enabled' if plugin.enabled else 'disabled'}",
                  markup=False, highlight=False)
        if plugin.error is not None:
            out.print(f"    cannot load: {plugin.error}", markup=False, highlight=False)
        for hook in plugin.hooks:
            out.print(f"    {hook}", markup=False, highlight=False)
    return 0
