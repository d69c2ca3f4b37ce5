"""Turns a results file into docs/benchmarks.md (a table and what it means) and
docs/benchmarks.png (a chart). matplotlib is needed only for the chart and only here
(``pip install -e '.[bench]'``, which ``make bench`` does); it runs with the Agg
backend, so no display is needed.

    .venv/bin/python -m bench.report bench/results/<date>.json   # redraw the docs from a file
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO  # noqa: E402
from bench.rows import target_text  # noqa: E402

DOCS = REPO / "docs"
ANALYSIS = Path(__file__).resolve().parent / "analysis.md"
BUSY_CORES = 0.3  # more CPU than this in use by others before a scenario is worth a warning
DURABILITY = (
    "Every hub figure is measured with the shipped storage settings: SQLite in WAL mode with "
    "`sqlite_synchronous: NORMAL` (config/hub.yaml). A device is told SUCCESS only after the transaction "
    "holding its device, credentials and provisionState has committed (group commit: concurrent requests "
    "share one transaction, each keeps its own atomicity). With WAL + NORMAL a committed transaction "
    "survives a crash or kill of the hub process; an operating-system crash or power loss can lose the "
    "last transactions committed before it (never corrupt the database). `sqlite_synchronous: FULL` "
    "also survives power loss, at the cost of an fsync per commit."
)


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"
    return f"{text} {unit}".strip()


def _lat(figure: dict | None) -> str:
    if not figure or (figure.get("p50_ms") is None and figure.get("p99_ms") is None):
        return "-"
    return f"{_num(figure.get('p50_ms'))} / {_num(figure.get('p99_ms'))}"


def _link(path: Path) -> str:
    """A link from docs/ to the results file (a plain path if it is outside the repository)."""
    try:
        relative = path.resolve().relative_to(REPO)
    except ValueError:
        return f"`{path}`"
    return f"[{relative}](../{relative})"


def _met(row: dict) -> str:
    return {True: "yes", False: "**no**", None: "-"}[row.get("met")]


def summary(row: dict) -> str:
    """One line per row for the console."""
    if row.get("skipped"):
        return f"{row['scenario']}: skipped ({row['skipped']})"
    if row.get("error"):
        return f"{row['scenario']}: FAILED ({row['error']})"
    hub, base = row["hub"], row.get("baseline")
    text = f"{row['scenario']}: {_num(hub['rate'], row['unit'])}"
    if base:
        text += f" vs {_num(base['rate'], row['unit'])} (ratio {row['ratio']})"
    errors = hub.get("errors", 0) + ((base or {}).get("errors") or 0)
    return text + f", target {target_text(row)}: {_met(row).strip('*')}" + (f", {errors} errors" if errors else "")


def table(results: dict) -> str:
    lines = ["| Scenario | Hub | Baseline | Ratio | Target | Met | Hub p50 / p99 ms | Baseline p50 / p99 ms | Errors |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in results["scenarios"]:
        if row.get("skipped") or row.get("error"):
            what = f"skipped: {row['skipped']}" if row.get("skipped") else f"failed: {row['error']}"
            lines.append(f"| {row['scenario']} | {what} | | | | {_met(row)} | | | |")
            continue
        hub, base = row["hub"], row.get("baseline")
        baseline = f"{_num(base['rate'], row['unit'])} ({row['baseline_name']})" if base else "-"
        errors = f"{hub.get('errors', 0)} / {base.get('errors', 0)}" if base else str(hub.get("errors", 0))
        ratio = f"{row['ratio']:.0%}" if row.get("ratio") is not None else "-"
        lines.append(f"| {row['scenario']} | {_num(hub['rate'], row['unit'])} | {baseline} | {ratio} | "
                     f"{target_text(row)} | {_met(row)} | {_lat(hub)} | {_lat(base)} | {errors} |")
    return "\n".join(lines)


def shortfalls(results: dict) -> list[str]:
    """Each missed target and by how much, in words."""
    out = []
    for row in results["scenarios"]:
        if row.get("met") is not False or row.get("error"):
            continue
        hub = row["hub"]
        if row.get("target") is not None and row.get("ratio") is not None and row["ratio"] < row["target"]:
            out.append(f"{row['scenario']}: {row['ratio']:.0%} of the baseline against a target of "
                       f"{row['target']:.0%} ({row['target'] / row['ratio'] - 1:.0%} faster needed).")
        elif row.get("at_most") is not None and hub["rate"] > row["at_most"]:
            out.append(f"{row['scenario']}: {_num(hub['rate'], row['unit'])} against at most "
                       f"{_num(row['at_most'], row['unit'])} ({hub['rate'] / row['at_most'] - 1:.0%} over).")
        elif row.get("at_least") is not None and hub["rate"] < row["at_least"]:
            out.append(f"{row['scenario']}: {_num(hub['rate'], row['unit'])} against at least "
                       f"{_num(row['at_least'], row['unit'])}.")
        if hub.get("errors"):
            out.append(f"{row['scenario']}: {hub['errors']} failed requests ({hub.get('error_kinds', {})}).")
    for row in results["scenarios"]:
        if row.get("error"):
            out.append(f"{row['scenario']}: the scenario failed: {row['error']}.")
    return out


def markdown(results: dict, results_path: Path, chart: str | None) -> str:
    m = results["machine"]
    busy = [f"{r['scenario']} ({r['busy_cores_before']:g} cores)" for r in results["scenarios"]
            if (r.get("busy_cores_before") or 0) > BUSY_CORES]
    parts = [
        "# Benchmarks",
        "",
        "<!-- generated by bench/run.py from the results file below; edit bench/report.py or "
        "bench/analysis.md instead -->",
        "",
        f"Run of {results['date']} {results.get('time', '')} ({results['mode']}, {results['seconds']:g} s per load, "
        f"{results['elapsed_s']:g} s in all) on {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, "
        f"Linux {m['kernel']}, Python {m['python']}, SQLite {m['sqlite']}, commit {m['commit']}"
        f"{' (with local changes)' if m.get('dirty') else ''}. Raw figures: {_link(results_path)}.",
        "",
        *[f"Re-run later and merged in: the rows of {', '.join(r['modules'])} come from a run of {r['date']} "
          f"{r['time']} ({r['seconds']:g} s per load, {r['elapsed_s']:g} s) on commit {r['commit']}"
          f"{' (with local changes)' if r.get('dirty') else ''}, with their baselines measured in that run.\n"
          for r in results.get("reruns", [])],
        f"Every scenario runs next to its baseline in the same run, each server in its own process pinned to "
        f"core {m['server_cpu']}, each load generator in its own process pinned to core {m['load_cpu']}, "
        f"everything on 127.0.0.1. Re-run with `make bench` (about 13 minutes here, 1M-device seeds "
        f"included; `make bench-quick` is a smoke run under a minute). Some scenarios only: "
        f"`make bench BENCH_ARGS='--only mqtt_telemetry --merge-into bench/results/<full run>.json'` "
        f"replaces their rows here. `BENCH_BEFORE_GRIDLINKS="
        f"<checkout>/.venv/bin/gridlinks` also measures that earlier installation's hub in the same run "
        f"(the MQTT rows \"(same run)\").",
        "",
    ]
    if chart:
        parts += [f"![benchmarks]({chart})", ""]
    parts += [table(results), ""]
    missed = shortfalls(results)
    parts += ["## Targets missed", ""] + ([f"- {line}" for line in missed] or ["None."]) + [""]
    parts += ["## Notes per scenario", ""]
    for row in results["scenarios"]:
        for note in row.get("notes", []):
            parts.append(f"- **{row['scenario']}**: {note}")
    parts += ["", "## Durability of the figures", "", DURABILITY, ""]
    if busy:
        parts += ["## Machine load", "",
                  "Other work was using the machine just before these scenarios (CPU in use, measured while "
                  "nothing of the benchmark ran); it competes with the pinned processes, so their figures may "
                  "be low: " + "; ".join(busy) + ".", ""]
    if ANALYSIS.exists():
        parts += [ANALYSIS.read_text().strip(), ""]
    return "\n".join(parts)


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results["scenarios"] if not r.get("skipped") and not r.get("error")]
    ratio_rows = [r for r in rows if r.get("ratio") is not None][::-1]
    bound_rows = [r for r in rows if r.get("at_most") is not None or r.get("at_least") is not None][::-1]
    fig, axes = plt.subplots(2, 1, figsize=(12, 2.2 + 0.42 * (len(ratio_rows) + len(bound_rows))),
                             gridspec_kw={"height_ratios": [max(1, len(ratio_rows)), max(1, len(bound_rows))]})
    colour = {True: "#3a9d5d", False: "#d0553f", None: "#8a8f98"}

    ax = axes[0]
    values = [r["ratio"] for r in ratio_rows]
    ax.barh([r["scenario"] for r in ratio_rows], values, color=[colour[r.get("met")] for r in ratio_rows])
    for i, r in enumerate(ratio_rows):
        if r.get("target") is not None:
            ax.plot([r["target"]] * 2, [i - 0.42, i + 0.42], color="black", linewidth=2.5)
        ax.text(max(r["ratio"], r.get("target") or 0) + 0.02, i,
                f"{_num(r['hub']['rate'])} vs {_num(r['baseline']['rate'])} {r['unit']}", va="center", fontsize=8)
    ax.axvline(1.0, color="#bbbbbb", linestyle=":")
    ax.set_xlim(0, max([1.3, *[v + 0.55 for v in values]]))
    ax.set_xlabel("hub / baseline in the same run (black tick: target; green met, red missed, grey no target)")
    ax.tick_params(axis="y", labelsize=8)

    ax = axes[1]
    fractions = [r["hub"]["rate"] / (r.get("at_most") or r.get("at_least")) for r in bound_rows]
    ax.barh([r["scenario"] for r in bound_rows], fractions, color=[colour[r.get("met")] for r in bound_rows])
    for i, r in enumerate(bound_rows):
        bound = r.get("at_most") or r.get("at_least")
        sign = "at most" if r.get("at_most") is not None else "at least"
        ax.text(max(fractions[i], 1.0) + 0.02, i, f"{_num(r['hub']['rate'], r['unit'])} ({sign} {_num(bound)})",
                va="center", fontsize=8)
    ax.axvline(1.0, color="black", linewidth=1.5)
    ax.set_xlim(0, max([1.6, *[f + 0.6 for f in fractions]]))
    ax.set_xlabel("figure / its bound (line: the bound)")
    ax.tick_params(axis="y", labelsize=8)

    reruns = "".join(f"; {', '.join(r['modules'])} re-run {r['date']}" for r in results.get("reruns", []))
    fig.suptitle(f"GridLinks Hub benchmarks, {results['date']}{reruns} ({results['machine']['cores']} cores, "
                 f"Python {results['machine']['python']})", fontsize=10 if reruns else None)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_docs(results: dict, results_path: Path) -> list[Path]:
    DOCS.mkdir(exist_ok=True)
    png = DOCS / "benchmarks.png"
    try:
        chart(results, png)
        chart_name = png.name
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): docs/benchmarks.png not redrawn")
        chart_name = png.name if png.exists() else None
    md = DOCS / "benchmarks.md"
    md.write_text(markdown(results, results_path, chart_name))
    return [md, png] if chart_name else [md]


if __name__ == "__main__":
    source = Path(sys.argv[1]).resolve()
    for written in write_docs(json.loads(source.read_text()), source):
        print(f"wrote {written.relative_to(REPO)}")
