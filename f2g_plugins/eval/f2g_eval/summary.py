"""Summaries of an eval: means with 95% bootstrap intervals, paired differences against a baseline, cost.

Every config runs the same (item, seed) pairs, so a config is compared with the baseline on the pairs both
finished, by a paired bootstrap (resampling pairs, not each config on its own): it removes the prompt-to-prompt
spread, which dominates. Percentile intervals, 2,000 resamples, a fixed generator: the same rows give the same
summary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from f2g_eval.jobs import JobResult

RESAMPLES = 2000


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float
    n: int

    def cell(self, scale: float = 1.0, signed: bool = False) -> str:
        if self.n == 0:
            return "–"
        fmt = "+.3f" if signed else ".3f"
        text = f"{self.mean * scale:{fmt}} [{self.low * scale:{fmt}}, {self.high * scale:{fmt}}]"
        return text + (" *" if signed and (self.low > 0 or self.high < 0) else "")


def bootstrap(values: Sequence[float], resamples: int = RESAMPLES, seed: int = 0) -> Estimate:
    """Mean and percentile 95% interval of the mean of ``values``."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Estimate(float(data.mean()), float(low), float(high), int(data.size))


def metric_columns(rows: Sequence[JobResult]) -> list[str]:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row.metrics))
    return list(columns)


def _usable(value: float | None) -> bool:
    """None: the metric does not apply to the item; NaN: it failed (the row's events say why)."""
    return value is not None and not math.isnan(value)


def _values(rows: Sequence[JobResult], column: str) -> list[float]:
    return [v for row in rows if (v := row.metrics.get(column)) is not None and not math.isnan(v)]


def failed_values(rows: Sequence[JobResult]) -> int:
    """How many metric values failed (stored as NaN)."""
    return sum(1 for row in rows for v in row.metrics.values() if v is not None and math.isnan(v))


@dataclass
class ConfigSummary:
    name: str
    videos: int
    metrics: dict[str, Estimate]
    cost_usd: float
    """Mean cost per video (USD)."""
    model_calls: float
    reward_calls: float
    tokens: float
    seconds: float
    failed: int = 0
    """Metric values that failed (NaN in results.csv), left out of the means."""
    groups: dict[str, dict[str, tuple[int, dict[str, Estimate]]]] = field(default_factory=dict)
    """``kind ("category" / "dimension") -> group -> (videos, column -> estimate)``."""
    paired: dict[str, Estimate] = field(default_factory=dict)
    """Column -> this config minus the baseline, on shared (item, seed) pairs."""


def _groups(rows: Sequence[JobResult], kind: str) -> dict[str, list[JobResult]]:
    found: dict[str, list[JobResult]] = {}
    for row in rows:
        labels = [row.category] if kind == "category" else row.dimension.split(",")
        for label in labels:
            if label:
                found.setdefault(label, []).append(row)
    return found


def summarise(rows: Sequence[JobResult], order: Sequence[str], baseline: str | None) -> list[ConfigSummary]:
    """One summary per config in ``order`` that has rows."""
    columns = metric_columns(rows)
    by_config = {name: [r for r in rows if r.config == name] for name in order}
    base = {(r.item_id, r.seed): r for r in by_config.get(baseline or "", [])}
    summaries = []
    for name, mine in by_config.items():
        if not mine:
            continue
        summary = ConfigSummary(
            name=name,
            videos=len(mine),
            metrics={c: bootstrap(_values(mine, c)) for c in columns},
            cost_usd=float(np.mean([r.cost_usd for r in mine])),
            model_calls=float(np.mean([r.model_calls for r in mine])),
            reward_calls=float(np.mean([r.reward_calls for r in mine])),
            tokens=float(np.mean([r.tokens for r in mine])),
            seconds=float(np.median([r.seconds for r in mine])),
            failed=failed_values(mine),
        )
        for kind in ("category", "dimension"):
            groups = _groups(mine, kind)
            summary.groups[kind] = {
                g: (len(gr), {c: bootstrap(_values(gr, c)) for c in columns}) for g, gr in groups.items()
            }
        if base and name != baseline:
            for column in columns:
                diffs = []
                for row in mine:
                    other = base.get((row.item_id, row.seed))
                    a, b = row.metrics.get(column), other.metrics.get(column) if other else None
                    if a is not None and b is not None and _usable(a) and _usable(b):
                        diffs.append(a - b)
                summary.paired[column] = bootstrap(diffs)
        summaries.append(summary)
    return summaries


def _table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(line) + " |" for line in lines),
    ]


def markdown(summaries: Sequence[ConfigSummary], baseline: str | None, title: str) -> str:
    """The ``summary.md`` text."""
    if not summaries:
        return f"# {title}\n\nNo finished jobs yet.\n"
    columns = list(summaries[0].metrics)
    out = [
        f"# {title}",
        "",
        "Mean per video with a 95% bootstrap interval in brackets; cost and calls are means per video, seconds the "
        "median.",
        "",
        *_table(
            ["config", "videos", *columns, "cost / video (USD)", "model calls", "reward calls", "tokens", "s / video"],
            [
                [
                    s.name,
                    str(s.videos),
                    *(s.metrics[c].cell() for c in columns),
                    f"{s.cost_usd:.4f}",
                    f"{s.model_calls:.0f}",
                    f"{s.reward_calls:.0f}",
                    f"{s.tokens:.0f}",
                    f"{s.seconds:.2f}",
                ]
                for s in summaries
            ],
        ),
    ]
    failed = [f"{s.name}: {s.failed}" for s in summaries if s.failed]
    if failed:
        out += [
            "",
            f"Failed metric values (NaN in results.csv, left out of the means; the reasons are in the rows' events in "
            f"results.sqlite): {', '.join(failed)}.",
        ]
    for kind in ("category", "dimension"):
        if not any(s.groups.get(kind) for s in summaries):
            continue
        out += ["", f"## By {kind}", ""]
        out += _table(
            ["config", kind, "videos", *columns],
            [
                [s.name, group, str(count), *(values[c].cell() for c in columns)]
                for s in summaries
                for group, (count, values) in sorted(s.groups[kind].items())
            ],
        )
    paired = [s for s in summaries if s.paired]
    if paired:
        out += [
            "",
            f"## Paired differences against {baseline}",
            "",
            "Config minus baseline on the (item, seed) pairs both finished; paired-bootstrap 95% interval; `*`: the "
            "interval excludes zero.",
            "",
        ]
        out += _table(
            ["config", "pairs", *columns],
            [
                [s.name, str(max(e.n for e in s.paired.values())), *(s.paired[c].cell(signed=True) for c in columns)]
                for s in paired
            ],
        )
    return "\n".join(out) + "\n"
