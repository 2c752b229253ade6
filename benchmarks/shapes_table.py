"""The shapes benchmark's README table, made from ``f2g eval`` runs (the benchmark itself is a suite + configs).

Run the benchmark (resumable): every configuration on the first 60 pairs, the main rows on all 400 (about 20
minutes on the 2-core CPU; all 17 on 400 pairs take about an hour):

    f2g eval shapes-benchmark:pairs=60 -c benchmarks/shapes --metric shapes --baseline unguided --workers 2 \
        --batch 4 --no-report --out benchmarks/results/shapes-60
    f2g eval shapes-benchmark -c benchmarks/shapes/unguided.yaml -c benchmarks/shapes/paper.yaml \
        -c benchmarks/shapes/oracle.yaml -c benchmarks/shapes/best-of-3.yaml --metric shapes --baseline unguided \
        --engine ray --workers 2 --batch 4 --out benchmarks/results/shapes
    python benchmarks/shapes_table.py benchmarks/results/shapes benchmarks/results/shapes-60 \
        --readme f2g_plugins/shapes/README.md

Several eval directories are merged: each configuration is taken from the run where it has the most pairs.

``shapes-benchmark`` is f2g-plugin-shapes' suite (400 fixed (prompt, seed) pairs; ``shapes-benchmark:pairs=60``
for a quicker run), ``benchmarks/shapes/*.yaml`` the configurations, ``--metric shapes`` the exact evaluator.
This script only formats ``results.csv``: accuracy per dimension, overall accuracy on single-object and two-object
prompts, and paired changes against the baseline (``f2g_eval.summary``'s bootstrap).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from f2g_eval.summary import bootstrap

COLUMNS: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    ("object class", "object_class", None),
    ("colour", "colour", None),
    ("motion", "motion", None),
    ("multiple objects", "multiple_objects", None),
    ("spatial relation", "spatial_relation", None),
    ("overall", "overall", None),
    ("overall, single", "overall", ("single",)),
    ("overall, two objects", "overall", ("multiple", "relation")),
)
DELTAS = (COLUMNS[5], COLUMNS[7], COLUMNS[3], COLUMNS[4], COLUMNS[2])
START, END = "<!-- benchmark-table:start -->", "<!-- benchmark-table:end -->"


def _values(rows: dict[str, dict[str, str]], dim: str, categories: tuple[str, ...] | None) -> dict[str, float]:
    return {
        key: float(row[f"shapes.{dim}"])
        for key, row in rows.items()
        if row[f"shapes.{dim}"] != "" and (categories is None or row["category"] in categories)
    }


def table(rows: Sequence[dict[str, str]], baseline: str) -> str:
    """Markdown: accuracy (%) per dimension per config, then paired changes (points) against ``baseline``."""
    by_config: dict[str, dict[str, dict[str, str]]] = {}
    for row in rows:
        by_config.setdefault(row["config"], {})[f"{row['item_id']}/{row['seed']}"] = row
    head = "| configuration | pairs | " + " | ".join(c[0] for c in COLUMNS) + " | model calls | s / video |"
    lines = [
        "Accuracy (%) of the exact evaluator; 95% bootstrap interval of the overall accuracy in brackets.",
        "",
        head,
        "|" + "---|" * (len(COLUMNS) + 4),
    ]
    for name, mine in by_config.items():
        cells = []
        for _, dim, cats in COLUMNS:
            estimate = bootstrap(list(_values(mine, dim, cats).values()))
            cell = f"{100 * estimate.mean:.1f}" if estimate.n else "–"
            if dim == "overall" and cats is None and estimate.n:
                cell += f" [{100 * estimate.low:.1f}, {100 * estimate.high:.1f}]"
            cells.append(cell)
        calls = np.mean([float(r["model_calls"]) for r in mine.values()])
        seconds = np.median([float(r["seconds"]) for r in mine.values()])
        lines.append(f"| {name} | {len(mine)} | " + " | ".join(cells) + f" | {calls:.0f} | {seconds:.2f} |")
    base = by_config.get(baseline, {})
    lines += [
        "",
        f"Change vs {baseline} (percentage points) on the pairs both ran, paired-bootstrap 95% interval.",
        "",
        "| configuration | " + " | ".join(c[0] for c in DELTAS) + " |",
        "|" + "---|" * (len(DELTAS) + 1),
    ]
    for name, mine in by_config.items():
        if name == baseline or not base:
            continue
        cells = []
        for _, dim, cats in DELTAS:
            a, b = _values(mine, dim, cats), _values(base, dim, cats)
            estimate = bootstrap([a[k] - b[k] for k in sorted(set(a) & set(b))])
            cells.append(
                f"{100 * estimate.mean:+.1f} [{100 * estimate.low:+.1f}, {100 * estimate.high:+.1f}]"
                + (" *" if estimate.low > 0 or estimate.high < 0 else "")
                if estimate.n
                else "–"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "`*`: the interval excludes zero."]
    return "\n".join(lines)


def merged_rows(eval_dirs: Sequence[Path]) -> list[dict[str, str]]:
    """The rows of every run's ``results.csv``, each configuration from the run where it has the most rows."""
    best: dict[str, list[dict[str, str]]] = {}
    for folder in eval_dirs:
        with (folder / "results.csv").open(newline="", encoding="utf-8") as handle:
            by_config: dict[str, list[dict[str, str]]] = {}
            for row in csv.DictReader(handle):
                by_config.setdefault(row["config"], []).append(row)
        for name, rows in by_config.items():
            if len(rows) > len(best.get(name, [])):
                best[name] = rows
    return [row for rows in best.values() for row in rows]


def replace_between_markers(path: Path, text: str, start: str = START, end: str = END) -> None:
    """Put ``text`` between the ``start`` and ``end`` markers of ``path`` (generated tables in docs)."""
    content = path.read_text(encoding="utf-8")
    if start not in content or end not in content:
        raise SystemExit(f"{path}: no {start} … {end} markers")
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    path.write_text(pattern.sub(lambda _: f"{start}\n{text}\n{end}", content), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("eval_dirs", type=Path, nargs="+", help="the --out of one or more f2g eval runs")
    parser.add_argument("--baseline", default="unguided")
    parser.add_argument("--readme", type=Path, help="replace the table between the benchmark-table markers")
    args = parser.parse_args(argv)
    text = table(merged_rows(args.eval_dirs), args.baseline)
    if args.readme is not None:
        replace_between_markers(args.readme, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
