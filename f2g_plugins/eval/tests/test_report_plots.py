"""The report's plots read like a paper's appendix: configs at equal cost stay apart, legends cover no data, and
the per-step spread names what each scored step was (a sampling step, an initial population, a final choice)."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install 'f2g-core[eval]')")

import matplotlib

matplotlib.use("Agg")

from f2g_eval.jobs import JobResult
from f2g_eval.report import cost_figure, dimension_figure, spread_figure, step_labels
from f2g_eval.summary import summarise


def row(config: str, item: int, steps: list[dict], calls: int = 75, passed: float = 1.0) -> JobResult:
    metrics = {"shapes.overall": passed, "shapes.colour": 1.0 - passed}
    return JobResult(f"i{item}", f"prompt {item}", None, "d", 0, item, config, f"h-{config}", metrics, calls, 3, 0,
                     0.0, 1.0, f"runs/{config}/{item}", steps=steps)  # fmt: skip


FINAL = {"step": -1, "combined": [0.1, 0.5, 0.3], "chosen": 1}
INITIAL = {"step": -1, "combined": [0.2, 0.4], "chosen": 1}


def guided(step: int) -> dict:
    return {"step": step, "combined": [0.1 * step, 0.2], "chosen": 0}


def test_each_scored_step_is_labelled_by_what_it_was() -> None:
    assert step_labels([FINAL]) == ["final"]  # best-of-N, prune, draft: the choice among finished videos
    assert step_labels([INITIAL, guided(0), guided(1)]) == ["initial", "0", "1"]  # Free²Guide, initial population
    assert step_labels([guided(0), guided(1), FINAL]) == ["0", "1", "final"]  # SMC, beam


def test_the_spread_plot_labels_every_method_s_steps_and_wraps_many_configs() -> None:
    rows = [row("best-of-n", 0, [FINAL]), row("free2guide", 0, [INITIAL, guided(0), guided(3)])]
    rows += [row(f"smc@{k}", 0, [guided(0), guided(1), FINAL]) for k in range(5)]
    names = list(dict.fromkeys(r.config for r in rows))
    figure = spread_figure(names, rows)
    visible = [axis for axis in figure.axes if axis.get_visible()]
    ticks = {axis.get_title(): [t.get_text() for t in axis.get_xticklabels()] for axis in visible}
    assert ticks["best-of-n"] == ["final"]
    assert ticks["free2guide"] == ["initial", "0", "3"]
    assert ticks["smc@0"] == ["0", "1", "final"]
    assert all("best-of-N" not in axis.get_xlabel() for axis in visible)
    assert figure.get_size_inches()[0] <= 4.2 * 4 + 1e-9  # 7 configs: two rows of at most four panels


def test_configs_at_equal_cost_get_rows_of_their_own_in_the_cost_plot() -> None:
    rows = [row(name, i, [], calls=75, passed=i % 2) for name in ("smc@75", "prune@75", "draft@75") for i in range(4)]
    rows += [row("best-of-n@150", i, [], calls=150) for i in range(4)]
    summaries = summarise(rows, ["smc@75", "prune@75", "draft@75", "best-of-n@150"], "smc@75")
    figure = cost_figure(summaries, "shapes.overall")
    axis = figure.axes[0]
    labels = [t.get_text() for t in axis.get_yticklabels()]
    assert labels == ["draft@75 (75 calls)", "prune@75 (75 calls)", "smc@75 (75 calls)", "best-of-n@150 (150 calls)"]
    points = [tuple(line.get_xydata()[0]) for line in axis.get_lines() if line.get_marker() == "o"]
    assert len({y for _, y in points}) == 4  # four configs, four rows: none hides another
    assert axis.get_legend() is None


def test_the_per_dimension_legend_covers_no_bar_and_gives_each_config_its_colour() -> None:
    rows = [row(f"config-with-a-long-name-{k}", i, []) for k in range(12) for i in range(3)]
    summaries = summarise(rows, [f"config-with-a-long-name-{k}" for k in range(12)], None)
    figure = dimension_figure(summaries, ["shapes.overall", "shapes.colour"])
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    axis = figure.axes[0]
    legend = axis.get_legend()
    assert legend is not None
    assert not legend.get_window_extent(renderer).overlaps(axis.get_window_extent(renderer))
    from matplotlib.container import BarContainer

    bars = [c for c in axis.containers if isinstance(c, BarContainer)]
    colours = {tuple(container.patches[0].get_facecolor()) for container in bars}
    assert len(colours) == 12  # ten colours repeated before
