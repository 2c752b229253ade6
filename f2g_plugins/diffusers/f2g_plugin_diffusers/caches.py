"""diffusers' feature caches (FirstBlockCache, PAB, TaylorSeer, FasterCache) with state that follows the chains.

diffusers' cache hooks keep the activations of the previous denoiser call (residuals, attention outputs, Taylor
factors) as batch-shaped tensors and reuse them in the next call, assuming the same batch comes back one step later.
A search method does not do that: it proposes n candidates per chain (rows duplicated), keeps some (rows selected)
or resamples them (rows repeated and dropped). :class:`RowCache` keeps the hooks' state per chain row instead:

* before a batch, the core says which row of the previous batch each new row continues
  (:meth:`Backbone.follow_rows`); the stored state is gathered with those ancestors, so a candidate starts from its
  parent's cached activations and a resampled particle from its ancestor's;
* before each call (a batch may come in chunks) the state of that call's rows is put into the hooks, and after it
  the hooks' updated state is read back into the store.

How a state tensor is split into rows: every tensor whose leading dimension is the call's rows (or twice that: the
``[uncond; cond]`` rows of classifier-free guidance, the diffusers backbones' layout) is per-row; anything else (step
counters, skip decisions, shapes) is shared by the batch, as diffusers makes one decision per batch. This holds for
FirstBlockCache, PAB and TaylorSeer ("permuted" caches). FasterCache flattens frames into its batch dimension and
records the batch size, so its state cannot be split by row: it is kept only while the same rows come back in the
same order in one call, and reset otherwise ("reset" cache).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from f2g_plugin_diffusers.options import CacheOptions, DiffusersOptions

if TYPE_CHECKING:
    import torch

CONFIG_CLASSES = {
    "first-block": "FirstBlockCacheConfig",
    "faster": "FasterCacheConfig",
    "taylorseer": "TaylorSeerCacheConfig",
    "pab": "PyramidAttentionBroadcastConfig",
}
"""The diffusers config class of each cache type (in ``diffusers.hooks``)."""

PERMUTED = frozenset({"first-block", "pab", "taylorseer"})
"""Cache types whose state is permuted and duplicated with the rows; the others are reset when the rows change."""

CONTEXT = "f2g"
"""The cache context of every call: the CFG rows are one batch, so one state per model (diffusers' StateManager)."""


def cache_config(
    options: CacheOptions, timestep: Callable[[], float], family: type[DiffusersOptions], cfg: bool
) -> Any:
    """diffusers' config object of the cache ``options`` describe, for a model of ``family``; ``timestep`` returns
    the model time of the call in progress (PAB and FasterCache skip only inside a timestep range)."""
    import torch
    from diffusers import hooks

    cls = getattr(hooks, CONFIG_CLASSES[options.type])
    if options.type == "first-block":
        return cls(threshold=options.threshold)
    if options.type == "taylorseer":
        return cls(
            cache_interval=options.cache_interval,
            disable_cache_before_step=options.warmup_calls,
            max_order=options.max_order,
            taylor_factors_dtype=torch.float32,
            cache_identifiers=[family.cache_attention],
        )
    low, high = options.timestep_range
    if options.type == "pab":
        return cls(
            spatial_attention_block_skip_range=options.skip_range,
            spatial_attention_timestep_skip_range=(low, high),
            current_timestep_callback=timestep,
        )
    return cls(
        spatial_attention_block_skip_range=options.skip_range,
        spatial_attention_timestep_skip_range=(low, high),
        current_timestep_callback=timestep,
        tensor_format=family.cache_tensor_format,
        is_guidance_distilled=not cfg,
    )


@dataclass
class Rows:
    """A per-row state tensor in row-major layout: (rows, k, ...) with k = 2 for ``[uncond; cond]`` rows, else 1."""

    data: torch.Tensor

    def take(self, index: torch.Tensor) -> Rows:
        return Rows(self.data[index])

    def physical(self) -> torch.Tensor:
        """Back to the layout the hooks use: (k · rows, ...), all uncond rows first."""
        data = self.data.transpose(0, 1)
        return data.reshape(-1, *data.shape[2:])


def _to_rows(value: Any, rows: int, width: int) -> Any:
    """``value`` (a hook state attribute) with every per-row tensor wrapped as :class:`Rows`."""
    import torch

    if isinstance(value, torch.Tensor) and value.dim() > 0:
        for k in dict.fromkeys((width, 1)):
            if value.shape[0] == k * rows:
                return Rows(value.reshape(k, rows, *value.shape[1:]).transpose(0, 1))
        return value
    if isinstance(value, tuple | list):
        return type(value)(_to_rows(v, rows, width) for v in value)
    if isinstance(value, dict):
        return {key: _to_rows(v, rows, width) for key, v in value.items()}
    return value


def _map(value: Any, leaf: Callable[[Rows], Any]) -> Any:
    """``value`` with every :class:`Rows` leaf replaced by ``leaf(it)``."""
    if isinstance(value, Rows):
        return leaf(value)
    if isinstance(value, tuple | list):
        return type(value)(_map(v, leaf) for v in value)
    if isinstance(value, dict):
        return {key: _map(v, leaf) for key, v in value.items()}
    return value


def _concat(parts: list[Any]) -> Any:
    """The chunks' states as one batch: per-row tensors concatenated, shared values from the last chunk."""
    import torch

    last = parts[-1]
    if isinstance(last, Rows):
        return Rows(torch.cat([part.data for part in parts]))
    if isinstance(last, tuple | list):
        return type(last)(_concat([part[i] for part in parts]) for i in range(len(last)))
    if isinstance(last, dict):
        return {key: _concat([part[key] for part in parts]) for key in last}
    return last


def _states(model: torch.nn.Module) -> list[Any]:
    """The state objects of the model's stateful hooks, in a fixed order (call inside ``cache_context``)."""
    from diffusers.hooks.hooks import HookRegistry, StateManager

    registry = HookRegistry.check_if_exists_or_initialize(model)
    states: dict[int, Any] = {}  # FirstBlockCache's blocks share one state: each object once
    for child in (registry, *registry._get_child_registries()):
        for name in child._hook_order:
            hook = child.hooks[name]
            if not hook._is_stateful:
                continue
            for attr in vars(hook).values():
                if isinstance(attr, StateManager):
                    attr = attr.get_state()
                elif not (type(attr).__name__.endswith("State") and hasattr(attr, "reset")):
                    continue
                states.setdefault(id(attr), attr)
    return list(states.values())


Snapshot = list[dict[str, Any]]
"""The attributes of every hook state of one model, per-row tensors as :class:`Rows`."""


class RowCache:
    """One diffusers cache on the denoiser models, its state kept per chain row (see the module docstring)."""

    def __init__(self, models: list[Any], options: CacheOptions, config: Any) -> None:
        """``models``: the denoisers (diffusers models with CacheMixin); ``config``: the diffusers cache config."""
        self.models, self.options, self.config = models, options, config
        self.permute = options.type in PERMUTED
        self.enabled = False
        self.timestep = 0.0
        """Model time of the call in progress (read by PAB's and FasterCache's timestep callback)."""
        self.store: dict[int, Snapshot] = {}
        """Per model (index): the state of every row of the last finished batch."""
        self.source: dict[int, Snapshot] = {}
        """Per model: the stored state gathered with the coming batch's ancestors (absent: start afresh)."""
        self.parts: dict[int, list[Snapshot]] = {}
        self.pending: np.ndarray | None = None
        self.offset = 0
        self.keep = False
        """Reset caches: whether the live hook state is still the rows' own (same rows, same order, one call)."""
        self.last_rows = 0
        self.last_calls = 0
        self.calls = 0
        self.full_calls = 0
        """Rows denoised under the cache (as the trace counts model calls), and those whose call computed every
        block (FirstBlockCache decides per call; the other caches are counted as computing in full)."""

    # ------------------------------------------------------------------------------------------ switching

    def enable(self) -> None:
        for model in self.models:
            model.enable_cache(self.config)
        self.enabled = True
        self.forget()

    def disable(self) -> None:
        for model in self.models:
            model.disable_cache()
        self.enabled = False
        self.forget()

    @contextmanager
    def drafting(self) -> Iterator[None]:
        """The cache on for the drafts only: hooks added on entry and removed on exit (no state survives)."""
        self.enable()
        try:
            yield
        finally:
            self.disable()

    def forget(self) -> None:
        self.store, self.source, self.parts, self.pending, self.keep = {}, {}, {}, None, False

    # ----------------------------------------------------------------------------------------- following

    def follow(self, ancestors: np.ndarray) -> None:
        """The coming batch's rows continue rows ``ancestors`` of the last one (−1: none; then all start afresh)."""
        import torch

        ancestors = np.asarray(ancestors, dtype=np.int64)
        known = len(ancestors) > 0 and bool((ancestors >= 0).all())
        self.pending, self.offset, self.parts = ancestors, 0, {}
        if not self.permute:
            same = known and len(ancestors) == self.last_rows and np.array_equal(ancestors, np.arange(self.last_rows))
            self.keep = same and self.last_calls == 1
            self.source = {}
            return
        if not known:
            self.source = {}
            return
        index = torch.as_tensor(ancestors)
        self.source = {
            m: [
                {key: _map(value, lambda rows: rows.take(index.to(rows.data.device))) for key, value in state.items()}
                for state in snapshot
            ]
            for m, snapshot in self.store.items()
        }

    @contextmanager
    def call(self, rows: int, width: int, timestep: float) -> Iterator[None]:
        """One denoiser call on ``rows`` rows (``width`` model rows each: 2 with CFG): the rows' state in before,
        the updated state out after."""
        if not self.enabled:
            yield
            return
        if self.pending is None or self.offset + rows > len(self.pending):
            self.follow(np.full(rows, -1))  # an unannounced call: no ancestors
        begin, self.offset = self.offset, self.offset + rows
        self.timestep = float(timestep)
        for m, model in enumerate(self.models):
            fresh = m not in self.source if self.permute else not self.keep or begin > 0
            if fresh:
                model._reset_stateful_cache()
        with ExitStack() as stack:
            for model in self.models:
                stack.enter_context(model.cache_context(CONTEXT))
            if self.permute:
                self._put(begin, rows)
            yield
            self._count(rows)
            if self.permute:
                self._get(rows, width)
        assert self.pending is not None
        if self.offset == len(self.pending):
            self._commit(len(self.pending), begin == 0)

    def _put(self, begin: int, rows: int) -> None:
        for m, model in enumerate(self.models):
            if m not in self.source:
                continue
            for state, saved in zip(_states(model), self.source[m], strict=True):
                for key, value in saved.items():
                    part = _map(value, lambda r: Rows(r.data[begin : begin + rows]))
                    setattr(state, key, _map(part, Rows.physical))

    def _get(self, rows: int, width: int) -> None:
        for m, model in enumerate(self.models):
            snapshot = [{key: _to_rows(value, rows, width) for key, value in vars(s).items()} for s in _states(model)]
            self.parts.setdefault(m, []).append(snapshot)

    def _commit(self, rows: int, one_call: bool) -> None:
        """The batch is complete: its rows' state becomes the store the next batch gathers from."""
        self.last_rows, self.last_calls = rows, 1 if one_call else 2
        if not self.permute:
            return
        store = {}
        for m, parts in self.parts.items():
            store[m] = [
                {key: _concat([part[i][key] for part in parts]) for key in parts[-1][i]} for i in range(len(parts[-1]))
            ]
        self.store, self.parts, self.source = store, {}, {}

    def _count(self, rows: int) -> None:
        """Count the call's rows and, for FirstBlockCache, whether the call computed the remaining blocks."""
        self.calls += rows
        decisions = [getattr(s, "should_compute", True) for model in self.models for s in _states(model)]
        self.full_calls += rows if all(decisions) else 0
