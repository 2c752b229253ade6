"""A method × budget × steps grid of run configs from base configs: the compute-matched study without hand-written
configs (``f2g eval … --methods prune,draft --budgets 75,150 --steps 25,50``)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

from f2g_core.config import load_config

from f2g_eval.jobs import EvalConfig


def expand_grid(
    configs: Sequence[EvalConfig], methods: Sequence[str], budgets: Sequence[int], steps: Sequence[int]
) -> list[EvalConfig]:
    """Every base config at every (method, budget, steps) given; an axis left empty keeps the base's value.

    A grid config is named ``METHOD@BUDGET`` (``~tSTEPS`` with ``steps``), prefixed ``BASE:`` when there are several
    bases. Its guidance block is the base's with the method, no options (the budget rule derives them) and the
    budget; other settings (backbone, rewards, key frames …) are the base's.
    """
    if not (methods or budgets or steps):
        return list(configs)
    grid = []
    axes: tuple[list[str | None], list[int | None], list[int | None]] = (
        [*methods] or [None],
        [*budgets] or [None],
        [*steps] or [None],
    )
    for base, (method, budget, num_steps) in product(configs, product(*axes)):
        data = base.config.model_dump(mode="json")
        guidance = data["guidance"]
        if method is not None and method != guidance["method"]:
            guidance.update(method=method, options={})
        if budget is not None:
            guidance.update(options={}, budget={"model_calls": budget})
        if num_steps is not None:
            data["sampler"]["num_steps"] = num_steps
        name = f"{guidance['method']}@{'' if budget is None else budget}".rstrip("@")
        name += "" if num_steps is None else f"~t{num_steps}"
        name = name if len(configs) == 1 else f"{base.name}:{name}"
        grid.append(EvalConfig(name, load_config(data, where=f"grid config {name}")))
    return grid
