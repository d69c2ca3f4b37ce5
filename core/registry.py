"""Start-up registries of named things (credential types, strategies, transports).

A name registered twice fails start-up: two plugins silently fighting over
``ACCESS_TOKEN`` would be a security hole in a device-auth hub.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar

from gridlinks.core.errors import ConfigError


class Named(Protocol):
    name: str


T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, item: T, name: str | None = None) -> T:
        key = name or _name_of(item)
        if key in self._items:
            raise ConfigError(f"{self.kind} {key!r} is registered twice")
        self._items[key] = item
        return item

    def get(self, name: str) -> T | None:
        return self._items.get(name)

    def __getitem__(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(f"no {self.kind} named {name!r} is enabled") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(self._items.values())

    def names(self) -> list[str]:
        return list(self._items)


def _name_of(item: object) -> str:
    """The registration name of a plugin object (its ``name`` attribute)."""
    name = getattr(item, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{item!r} has no name to register it under")
    return name
