"""``report.html``: one self-contained page — summary table, plots, and every prompt's videos side by side.

Plots are matplotlib PNGs inlined as data URIs; videos stay beside the report (``runs/…``, linked relatively),
so the page needs no network and the folder can be copied or served as it is. GIFs are shown with ``<img>``
(every browser plays them); runs written without a GIF are shown as ``<video>`` (MP4).
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from f2g_core.evaluation import Suite

from f2g_eval.jobs import JobResult
from f2g_eval.summary import ConfigSummary

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_PROMPTS = 200
"""Prompts shown with their videos (the first ones in suite order); the tables cover every job."""


def primary_column(columns: Sequence[str]) -> str | None:
    """The headline metric: the first ``*.overall`` column, else the first column."""
    return next((c for c in columns if c.endswith("overall")), columns[0] if columns else None)


def _png(figure: Figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def cost_figure(summaries: Sequence[ConfigSummary], column: str) -> Figure:
    """A dot plot of ``column`` per config, cheapest first, each config on a row of its own (its cost in the
    label): configs at equal cost stay apart instead of hiding one behind another, and no legend is needed."""
    import matplotlib.pyplot as plt

    use_cost = any(s.cost_usd > 0 for s in summaries)
    ordered = sorted(summaries, key=lambda s: (s.cost_usd if use_cost else s.model_calls, s.name))
    figure, axis = plt.subplots(figsize=(7.0, 1.2 + 0.3 * len(ordered)))
    for y, s in enumerate(ordered):
        e = s.metrics[column]
        axis.errorbar([e.mean], [y], xerr=[[e.mean - e.low], [e.high - e.mean]], fmt="o", capsize=3, color="C0")
    labels = [f"{s.name} (${s.cost_usd:.4f})" if use_cost else f"{s.name} ({s.model_calls:.0f} calls)" for s in ordered]
    axis.set_yticks(range(len(ordered)), labels, fontsize=8)
    axis.set_ylim(len(ordered) - 0.5, -0.5)
    axis.set_xlabel(f"{column} (mean, 95% interval)")
    axis.grid(axis="x", alpha=0.3)
    per = "cost per video" if use_cost else "model calls per video"
    axis.set_title(f"{column} by config, cheapest first ({per} in brackets)", fontsize=9)
    return figure


def dimension_figure(summaries: Sequence[ConfigSummary], columns: Sequence[str]) -> Figure:
    """Bars per metric column and config; the legend sits right of the axes, over no bar."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(min(12.0, max(5.5, 1.2 * len(columns))), 3.8))
    width = 0.8 / len(summaries)
    for k, s in enumerate(summaries):
        means = np.asarray([s.metrics[c].mean for c in columns])
        low = means - np.asarray([s.metrics[c].low for c in columns])
        high = np.asarray([s.metrics[c].high for c in columns]) - means
        colour = plt.get_cmap("tab20" if len(summaries) > 10 else "tab10")(k % 20)  # no colour twice up to 20
        axis.bar(
            np.arange(len(columns)) + k * width, means, width, yerr=[low, high], capsize=3, label=s.name, color=colour
        )
    axis.set_xticks(np.arange(len(columns)) + 0.4 - width / 2, columns, rotation=30, ha="right", fontsize=7)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    axis.set_title("per dimension (95% intervals)")
    return figure


def step_labels(steps: Sequence[dict]) -> list[str]:
    """What each scored record of one video's ``steps`` was: its sampling step, ``initial`` for a scored initial
    population (step -1 before the steps: Free²Guide's ``initial_candidates``) or ``final`` for the choice among
    finished videos (step -1 last: best-of-N, SMC, beam, prune, draft)."""
    last = len(steps) - 1
    return [str(s["step"]) if s["step"] >= 0 else "final" if i == last else "initial" for i, s in enumerate(steps)]


SPREAD_COLUMNS = 4
"""Panels per row of the per-step spread plot (more configs wrap onto more rows)."""


def spread_figure(names: Sequence[str], rows: Sequence[JobResult]) -> Figure:
    """Per config, a box of the candidates' combined rewards at each scored step, labelled by what it was."""
    import matplotlib.pyplot as plt

    columns = min(SPREAD_COLUMNS, len(names))
    lines = math.ceil(len(names) / columns)
    figure, axes = plt.subplots(lines, columns, figsize=(4.2 * columns, 3.4 * lines), squeeze=False)
    for axis, name in zip(axes.flat, names, strict=False):
        by_label: dict[str, list[float]] = {}
        for row in rows:
            if row.config == name:
                for label, step in zip(step_labels(row.steps), row.steps, strict=True):
                    by_label.setdefault(label, []).extend(v for v in step["combined"] if v is not None)
        order = {"initial": -1.0, "final": math.inf}
        labels = sorted((k for k, v in by_label.items() if v), key=lambda k: order[k] if k in order else float(k))
        axis.boxplot([by_label[k] for k in labels], positions=range(len(labels)))
        axis.set_xticks(range(len(labels)), labels, fontsize=7, rotation=90 if len(labels) > 12 else 0)
        axis.set_xlabel("scored step (final: the choice among finished videos)", fontsize=8)
        axis.set_ylabel("candidates' combined reward", fontsize=8)
        axis.set_title(name, fontsize=9)
    for axis in list(axes.flat)[len(names) :]:
        axis.set_visible(False)
    figure.tight_layout()
    return figure


def _plots(summaries: Sequence[ConfigSummary], rows: Sequence[JobResult]) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")

    plots: list[tuple[str, str]] = []
    columns = list(summaries[0].metrics)
    primary = primary_column(columns)
    if primary is not None:
        plots.append(("metric vs cost", _png(cost_figure(summaries, primary))))
    if columns:
        plots.append(("per dimension", _png(dimension_figure(summaries, columns))))
    guided = [s.name for s in summaries if any(r.steps for r in rows if r.config == s.name)]
    if guided:
        plots.append(("spread of candidate rewards per scored step", _png(spread_figure(guided, rows))))
    return plots


def _media(out: Path, row: JobResult) -> str:
    directory = out / row.run_dir
    for name, tag in (("video.gif", "img"), ("video.mp4", "video"), ("grid.png", "img")):
        if (directory / name).is_file():
            src = html.escape(f"{row.run_dir}/{name}")
            if tag == "video":
                return f'<video src="{src}" autoplay loop muted playsinline width="160"></video>'
            return f'<img src="{src}" width="160" alt="{html.escape(row.prompt)}">'
    return "<em>no video file</em>"


def _cell(value: float | None) -> str:
    """A metric value: "–" where it does not apply, "failed" where the metric failed (NaN)."""
    return "–" if value is None else "failed" if math.isnan(value) else f"{value:.3g}"


CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 100%; }
.wide { max-width: 100%; overflow-x: auto; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.85em; }
td, th { border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; overflow-wrap: anywhere; }
th { background: #f3f3f3; }
.videos { table-layout: fixed; width: 100%; }
.videos td { text-align: center; }
.videos th:first-child { width: 14em; }
.videos th:nth-child(2) { width: 3em; }
.videos img, .videos video { width: 100%; max-width: 160px; height: auto; }
img, video { image-rendering: pixelated; }
figure { display: inline-block; margin: 0.5em; max-width: 100%; vertical-align: top; }
figure img { max-width: 100%; height: auto; image-rendering: auto; }
"""
"""No sideways overflow: wide tables scroll in their own box, the videos table shares the page's width among its
columns (videos at most 160 px), and plots shrink to fit."""


def write_report(
    path: Path,
    suite: Suite,
    order: Sequence[str],
    rows: Sequence[JobResult],
    summaries: Sequence[ConfigSummary],
    baseline: str | None,
) -> Path:
    """Write the report of ``rows`` (all finished jobs of this eval) to ``path``."""
    out = path.parent
    columns = list(summaries[0].metrics) if summaries else []
    e = html.escape
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><link rel='icon' href='data:,'>",
        f"<title>f2g eval: {e(suite.name)}</title><style>{CSS}</style></head><body>",
        f"<h1>f2g eval: {e(suite.name)}</h1>",
        f"<p>{len(rows)} videos, {len(order)} configs, baseline <b>{e(baseline or '-')}</b>. "
        "Means with 95% bootstrap intervals; differences are paired against the baseline.</p>",
        "<h2>Summary</h2><div class='wide'><table><tr><th>config</th><th>videos</th>",
        *(f"<th>{e(c)}</th>" for c in columns),
        "<th>cost / video (USD)</th><th>model calls</th><th>reward calls</th><th>s / video</th></tr>",
    ]
    for s in summaries:
        parts.append(f"<tr><td>{e(s.name)}</td><td>{s.videos}</td>")
        parts += [f"<td>{e(s.metrics[c].cell())}</td>" for c in columns]
        parts.append(
            f"<td>{s.cost_usd:.4f}</td><td>{s.model_calls:.0f}</td><td>{s.reward_calls:.0f}</td>"
            f"<td>{s.seconds:.2f}</td></tr>"
        )
    parts.append("</table></div>")
    paired = [s for s in summaries if s.paired]
    if paired:
        parts.append(
            f"<h3>Paired differences against {e(baseline or '')}</h3><div class='wide'><table><tr><th>config</th>"
        )
        parts += [f"<th>{e(c)}</th>" for c in columns]
        parts.append("</tr>")
        for s in paired:
            parts.append(
                f"<tr><td>{e(s.name)}</td>"
                + "".join(f"<td>{e(s.paired[c].cell(signed=True))}</td>" for c in columns)
                + "</tr>"
            )
        parts.append("</table></div>")
    parts.append("<h2>Plots</h2>")
    if summaries:
        for title, uri in _plots(summaries, rows):
            parts.append(f"<figure><img src='{uri}' alt='{e(title)}'><figcaption>{e(title)}</figcaption></figure>")
    parts.append("<h2>Videos</h2><table class='videos'><tr><th>prompt</th><th>seed</th>")
    parts += [f"<th>{e(name)}</th>" for name in order]
    parts.append("</tr>")
    by_key = {(r.item_id, r.seed, r.config): r for r in rows}
    pairs = list(dict.fromkeys((r.item_id, r.seed) for r in rows))[:MAX_PROMPTS]
    prompts = {r.item_id: r.prompt for r in rows}
    primary = primary_column(columns)
    for item_id, seed in pairs:
        parts.append(f"<tr><td>{e(prompts[item_id])}<br><small>{e(item_id)}</small></td><td>{seed}</td>")
        for name in order:
            row = by_key.get((item_id, seed, name))
            if row is None:
                parts.append("<td>not run</td>")
                continue
            score = f"{e(primary)} {_cell(row.metrics.get(primary))}" if primary else ""
            detail = ", ".join(f"{e(k.rsplit('.', 1)[-1])} {_cell(v)}" for k, v in row.metrics.items() if k != primary)
            parts.append(f"<td>{_media(out, row)}<br><b>{score}</b><br><small>{detail}</small></td>")
        parts.append("</tr>")
    parts.append("</table></body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
