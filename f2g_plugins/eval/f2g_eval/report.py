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


def _plots(summaries: Sequence[ConfigSummary], rows: Sequence[JobResult]) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots: list[tuple[str, str]] = []
    columns = list(summaries[0].metrics)
    primary = primary_column(columns)
    if primary is not None:
        use_cost = any(s.cost_usd > 0 for s in summaries)
        figure, axis = plt.subplots(figsize=(5.5, 3.8))
        for s in summaries:
            e = s.metrics[primary]
            x = s.cost_usd if use_cost else s.model_calls
            axis.errorbar([x], [e.mean], yerr=[[e.mean - e.low], [e.high - e.mean]], fmt="o", capsize=4, label=s.name)
        axis.set_xlabel("cost per video (USD)" if use_cost else "model calls per video")
        axis.set_ylabel(primary)
        axis.legend(fontsize=7)
        axis.set_title(f"{primary} vs cost (95% intervals)")
        plots.append(("metric vs cost", _png(figure)))
    if columns:
        figure, axis = plt.subplots(figsize=(max(5.5, 1.2 * len(columns)), 3.8))
        width = 0.8 / len(summaries)
        for k, s in enumerate(summaries):
            means = np.asarray([s.metrics[c].mean for c in columns])
            low = means - np.asarray([s.metrics[c].low for c in columns])
            high = np.asarray([s.metrics[c].high for c in columns]) - means
            axis.bar(np.arange(len(columns)) + k * width, means, width, yerr=[low, high], capsize=3, label=s.name)
        axis.set_xticks(np.arange(len(columns)) + 0.4 - width / 2, columns, rotation=30, ha="right", fontsize=7)
        axis.legend(fontsize=7)
        axis.set_title("per dimension (95% intervals)")
        plots.append(("per dimension", _png(figure)))
    guided = [s for s in summaries if any(r.steps for r in rows if r.config == s.name)]
    if guided:
        figure, axes = plt.subplots(1, len(guided), figsize=(4.2 * len(guided), 3.4), squeeze=False)
        for axis, s in zip(axes[0], guided, strict=True):
            by_step: dict[int, list[float]] = {}
            for row in rows:
                if row.config == s.name:
                    for step in row.steps:
                        by_step.setdefault(step["step"], []).extend(v for v in step["combined"] if v is not None)
            steps = sorted(k for k, v in by_step.items() if v)
            axis.boxplot([by_step[k] for k in steps], positions=range(len(steps)))
            axis.set_xticks(range(len(steps)), [str(k) for k in steps])
            axis.set_xlabel("guided step (-1 = best-of-N final)")
            axis.set_ylabel("candidates' combined reward")
            axis.set_title(s.name, fontsize=9)
        plots.append(("spread of candidate rewards per guided step", _png(figure)))
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
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.85em; }
td, th { border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; }
th { background: #f3f3f3; }
.videos td { text-align: center; }
img, video { image-rendering: pixelated; }
figure { display: inline-block; margin: 0.5em; }
"""


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
        "<h2>Summary</h2><table><tr><th>config</th><th>videos</th>",
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
    parts.append("</table>")
    paired = [s for s in summaries if s.paired]
    if paired:
        parts.append(f"<h3>Paired differences against {e(baseline or '')}</h3><table><tr><th>config</th>")
        parts += [f"<th>{e(c)}</th>" for c in columns]
        parts.append("</tr>")
        for s in paired:
            parts.append(
                f"<tr><td>{e(s.name)}</td>"
                + "".join(f"<td>{e(s.paired[c].cell(signed=True))}</td>" for c in columns)
                + "</tr>"
            )
        parts.append("</table>")
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
