"""The hub's version, as installed (pyproject.toml's ``version``)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def hub_version() -> str:
    """``0.1.0``, or ``unknown`` when run from a tree that was never installed."""
    try:
        return version("gridlinks")
    except PackageNotFoundError:
        return "unknown"
