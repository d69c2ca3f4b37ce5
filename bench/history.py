"""Figures of earlier runs kept as history rows: what a part of the hub that has since been
replaced measured on this machine class, read from a committed results file, so a new run
can still be compared with it after the old part is gone (the amqtt-based MQTT transport,
removed in issue 13, measured on 2026-11-22)."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
AMQTT_RUN = "2026-11-22"  # the last full run with the amqtt-based MQTT transport (commit 1a90ba1)


def hub_figure(scenario: str, run: str = AMQTT_RUN) -> dict | None:
    """The hub side of ``scenario``'s row in ``results/<run>.json`` (None if absent), marked
    with the run it came from."""
    path = RESULTS / f"{run}.json"
    if not path.exists():
        return None
    results = json.loads(path.read_text())
    for row in results.get("scenarios", []):
        if row.get("scenario") == scenario and row.get("hub"):
            return {**row["hub"], "run": run, "commit": results.get("machine", {}).get("commit")}
    return None
