"""The shape of one line of the results: a hub figure, its baseline measured in the same
run, the ratio and the target it is held to. Scenarios build rows only through these
functions, so the runner, the JSON file and the docs table agree on every field."""

from __future__ import annotations

from typing import Any


def compare(scenario: str, unit: str, hub: dict, baseline: dict | None, baseline_name: str,
            target: float | None = None, notes: list[str] | None = None, **extra: Any) -> dict:
    """Hub vs baseline; ``target`` is the least acceptable ratio (None: reported only)."""
    ratio = round(hub["rate"] / baseline["rate"], 3) if baseline and baseline.get("rate") else None
    row = {"scenario": scenario, "unit": unit, "hub": hub, "baseline": baseline, "baseline_name": baseline_name,
           "ratio": ratio, "target": target, "notes": list(notes or []), **extra}
    row["met"] = verdict(row)
    return row


def absolute(scenario: str, unit: str, hub: dict, *, at_most: float | None = None, at_least: float | None = None,
             notes: list[str] | None = None, **extra: Any) -> dict:
    """A figure with no baseline, held to a bound (idle RSS <= 120 MB, sessions held >= 10k)."""
    row = {"scenario": scenario, "unit": unit, "hub": hub, "baseline": None, "baseline_name": "-", "ratio": None,
           "target": None, "at_most": at_most, "at_least": at_least, "notes": list(notes or []), **extra}
    row["met"] = verdict(row)
    return row


def skipped(scenario: str, reason: str) -> dict:
    return {"scenario": scenario, "skipped": reason, "met": None, "notes": [reason]}


def failed(scenario: str, error: str) -> dict:
    """A scenario that crashed: shown as such in the table, never left out."""
    return {"scenario": scenario, "error": error, "met": False, "notes": [f"scenario failed: {error}"]}


def verdict(row: dict) -> bool | None:
    """Whether the row meets its target; None if it has none. A run with failed
    requests does not meet its target, whatever its rate."""
    hub = row.get("hub") or {}
    checks = []
    if row.get("target") is not None:
        checks.append(row.get("ratio") is not None and row["ratio"] >= row["target"])
    if row.get("at_most") is not None:
        checks.append(hub.get("rate") is not None and hub["rate"] <= row["at_most"])
    if row.get("at_least") is not None:
        checks.append(hub.get("rate") is not None and hub["rate"] >= row["at_least"])
    if not checks:
        return None
    return all(checks) and not hub.get("errors")


def target_text(row: dict) -> str:
    if row.get("target") is not None:
        return f">= {row['target']:.0%} of baseline"
    if row.get("at_most") is not None:
        return f"<= {row['at_most']:g} {row.get('unit', '')}".strip()
    if row.get("at_least") is not None:
        return f">= {row['at_least']:g} {row.get('unit', '')}".strip()
    return "-"
