"""The results store (one row per key, whole rows only, a lock per directory) and the bootstrap summaries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from f2g_eval.jobs import JobResult
from f2g_eval.store import DirectoryInUse, Store, lock_directory
from f2g_eval.summary import bootstrap, markdown, summarise


def row(item: str, seed: int, config: str, value: float, cost: float = 0.0) -> JobResult:
    return JobResult(
        item_id=item, prompt=f"prompt {item}", category="c" if item < "m" else "d", dimension="", seed_index=seed,
        seed=seed, config=config, config_hash=f"h-{config}", metrics={"m.overall": value, "m.none": None},
        model_calls=10, reward_calls=2, tokens=0, cost_usd=cost, seconds=0.1, run_dir=f"runs/{config}/{item}",
        steps=[{"step": 0, "combined": [0.1, 0.5], "chosen": 1}],
    )  # fmt: skip


def test_a_job_is_stored_once_and_read_back_whole(tmp_path: Path) -> None:
    with Store(tmp_path / "r.sqlite") as store:
        first = row("a", 0, "x", 0.5)
        assert store.add(first) is True
        assert store.add(row("a", 0, "x", 0.9)) is False  # same key: ignored, never a second copy
        assert store.add(row("a", 1, "x", 0.7)) is True
        assert set(store.run_dirs()) == {("a", 0, "h-x"), ("a", 1, "h-x")}
    with Store(tmp_path / "r.sqlite") as store:
        (back,) = store.rows([("a", 0, "h-x")])
        assert back.to_dict() == first.to_dict()


def test_second_eval_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    lock = lock_directory(tmp_path)
    try:
        probe = (
            "import sys; from pathlib import Path; from f2g_eval.store import lock_directory\n"
            "try:\n    lock_directory(Path(sys.argv[1]))\nexcept Exception as e:\n    print(type(e).__name__, e)\n"
        )
        answer = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True)
        assert answer.stdout.startswith("DirectoryInUse") and "in use by another f2g eval (pid" in answer.stdout
    finally:
        lock.release()
    lock_directory(tmp_path).release()  # free again once released


def test_directory_in_use_is_an_f2g_error() -> None:
    from f2g_core.errors import F2GError

    assert issubclass(DirectoryInUse, F2GError)


def test_bootstrap_interval_covers_the_mean_and_is_reproducible() -> None:
    values = np.random.default_rng(1).normal(0.5, 0.1, 200)
    estimate = bootstrap(values)
    assert estimate.low < values.mean() < estimate.high and estimate.n == 200
    assert 0.005 < estimate.high - estimate.low < 0.06  # about 4 standard errors wide
    assert bootstrap(values) == estimate
    assert bootstrap([]).n == 0


def test_paired_difference_removes_prompt_spread() -> None:
    spread = np.linspace(0.0, 1.0, 30)  # prompts differ a lot; B is A + 0.1 on every pair
    rows = [row(f"i{k:02d}", 0, "A", float(v)) for k, v in enumerate(spread)]
    rows += [row(f"i{k:02d}", 0, "B", float(v) + 0.1, cost=0.01) for k, v in enumerate(spread)]
    a, b = summarise(rows, ["A", "B"], "A")
    assert b.metrics["m.overall"].high - b.metrics["m.overall"].low > 0.15  # unpaired: wide
    paired = b.paired["m.overall"]
    assert paired.mean == pytest.approx(0.1) and paired.high - paired.low < 1e-9  # paired: exact
    assert b.cost_usd == pytest.approx(0.01) and a.cost_usd == 0
    assert b.metrics["m.none"].n == 0
    assert set(a.groups["category"]) == {"c"}
    text = markdown([a, b], "A", "t")
    assert "## Paired differences against A" in text and "+0.100 [+0.100, +0.100] *" in text
