"""Commands that plugins add to ``gridlinks`` through the ``register_commands`` hook.

The hook hands each enabled plugin a ``register`` callback (as llm does); what it
registers is mounted into the argparse tree after the core's own commands, either at the
top level or under a group (``profile``, ``device``, or a new one). Only enabled plugins
are asked, so a disabled plugin's commands are not in ``--help`` and do not parse.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import pluggy

from gridlinks.core.errors import ConfigError
from gridlinks.core.types import CommandConfigure as Configure
from gridlinks.core.types import CommandRun as Run


@dataclass(frozen=True)
class Command:
    name: str
    run: Run
    group: str | None = None
    help: str = ""
    configure: Configure | None = None

    @property
    def path(self) -> str:
        return f"{self.group} {self.name}" if self.group else self.name


def collect_commands(pm: pluggy.PluginManager) -> list[Command]:
    """Ask every enabled plugin for its commands."""
    commands: list[Command] = []

    def register(name: str, run: Run, group: str | None = None, help: str = "",
                 configure: Configure | None = None) -> None:
        if not name or not callable(run):
            raise ConfigError(f"a plugin registered command {name!r} without a name or a run function")
        commands.append(Command(name, run, group, help, configure))

    pm.hook.register_commands(register=register)
    return commands


def _group_of(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[argparse.ArgumentParser] | None:
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def mount_commands(commands: list[Command], sub: argparse._SubParsersAction[argparse.ArgumentParser],
                   common: argparse.ArgumentParser) -> None:
    """Add ``commands`` to the top-level sub-parsers ``sub``; every command gets the
    ``common`` options (``--config``, ``--data-dir``)."""
    for command in commands:
        target = sub
        if command.group is not None:
            group_parser = sub.choices.get(command.group)
            if group_parser is None:
                group_parser = sub.add_parser(command.group, help=f"{command.group} commands")
                group_parser.add_subparsers(dest="action", required=True)
            found = _group_of(group_parser)
            if found is None:
                raise ConfigError(f"command {command.path!r}: {command.group!r} is a command, not a group")
            target = found
        if command.name in target.choices:
            raise ConfigError(f"command {command.path!r} is registered twice")
        parser = target.add_parser(command.name, parents=[common], help=command.help or None)
        if command.configure is not None:
            try:
                command.configure(parser)
            except argparse.ArgumentError as exc:  # e.g. a second --config
                raise ConfigError(f"command {command.path!r}: {exc}") from None
        parser.set_defaults(func=command.run)
