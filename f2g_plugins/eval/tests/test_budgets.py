"""Budgets in ``f2g eval``: the method × budget grid, and stores written before the budget columns existed."""

from typing import Any

from f2g_eval.grid import expand_grid
from f2g_eval.jobs import EvalConfig


def test_the_eval_grid_is_every_method_at_every_budget(gmm_config: dict[str, Any]) -> None:
    from f2g_core.config import load_config

    base = EvalConfig("base", load_config(gmm_config))
    grid = expand_grid([base], ["best-of-n", "prune"], [75, 150], [])
    assert [c.name for c in grid] == ["best-of-n@75", "best-of-n@150", "prune@75", "prune@150"]
    assert all(c.config.guidance.options == {} for c in grid)
    assert [c.config.guidance.budget.model_calls for c in grid] == [75, 150, 75, 150]  # type: ignore[union-attr]
    assert len({c.hash for c in grid}) == 4
    other = EvalConfig("other", load_config({**gmm_config, "sampler": {"num_steps": 10}}))
    named = expand_grid([base, other], ["smc"], [], [25, 50])
    assert [c.name for c in named] == ["base:smc~t25", "base:smc~t50", "other:smc~t25", "other:smc~t50"]
    assert named[0].config.guidance.budget is None and named[1].config.sampler.num_steps == 50
    assert expand_grid([base], [], [], []) == [base]
