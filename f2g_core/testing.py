"""pytest fixtures and helpers for plugin authors (installed as the pytest plugin ``f2g`` through ``pytest11``).

* ``f2g_registry``: an isolated registry: the built-in combiners plus the analytic test components
  (``gaussian-mixture`` and ``gaussian-mixture-textured`` backbones, ``mode-distance`` reward), none of the
  installed plugins.
* ``register_plugin``: ``register_plugin(module_or_object, name="my-plugin", strict=None)`` loads a throwaway plugin
  next to those and returns the :class:`~f2g_core.plugins.Plugins` (registry, per-plugin infos and errors). With
  ``strict=True`` (or ``F2G_STRICT_PLUGINS=1``) a plugin that fails or registers nothing raises
  :class:`~f2g_core.errors.PluginError` instead of only warning.
* ``make_reward_batch``: builds :class:`~f2g_core.interfaces.RewardBatch` objects from random or given frames;
  ``make_textured_batch``: from frames with texture, colour and motion, for image rewards.
* ``gmm_backbone``: a loaded :class:`~f2g_core.gaussian_mixture.GaussianMixtureBackbone` (flat frames);
  ``textured_backbone``: a loaded :class:`~f2g_core.textured_mixture.TexturedGaussianMixture`.
* ``gmm_config`` / ``textured_gmm_config``: run-config dicts guiding either backbone towards one mode (edit and pass
  to ``Pipeline.from_config(config, registry=f2g_registry)``).
* Contract test classes a plugin's tests subclass, :class:`~f2g_core.contracts.RewardContract` and
  :class:`~f2g_core.contracts.BackboneContract`, live in :mod:`f2g_core.contracts`.

pytest loads this module in every test session of an environment where f2g-core is installed, so it imports only
pytest and the standard library at import time; everything else loads when a fixture or helper is used. The LVLM
fixtures (a fake OpenAI/Anthropic server) are opt-in, from ``f2g_lvlm.testing`` in the f2g-lvlm package.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import numpy as np

    from f2g_core.interfaces import RewardBatch, StepInfo
    from f2g_core.pipeline import Pipeline, RunResult
    from f2g_core.plugins import Plugins
    from f2g_core.registry import Registry

__all__ = [
    "FLOAT32_EPS",
    "assert_close_to_scale",
    "assert_same_as_one_at_a_time",
    "f2g_registry",
    "gmm_backbone",
    "gmm_config",
    "gmm_run_config",
    "isolated_plugins",
    "make_reward_batch",
    "make_textured_batch",
    "register_plugin",
    "reward_batch",
    "textured_backbone",
    "textured_batch",
    "textured_gmm_config",
]


NUMERICS_MARKER = (
    "numerics: compares float results computed two ways (batched vs alone, port vs reference); the test command runs"
    " these once more on a second CPU kernel path (ATEN_CPU_CAPABILITY=default), see docs/testing.md"
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``numerics`` marker, which the contract classes put on their equality tests."""
    config.addinivalue_line("markers", NUMERICS_MARKER)


def install_fake_distribution(site: Path, name: str, version: str, entry_points: str) -> Path:
    """Write ``<name>-<version>.dist-info`` into ``site`` (a folder on ``sys.path``/``PYTHONPATH``) declaring the
    ``[f2g]`` entry points ``entry_points`` (``"id = module"`` lines): an installed plugin distribution, as
    ``importlib.metadata`` finds one, without building or installing anything."""
    dist = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (dist / "entry_points.txt").write_text(f"[f2g]\n{entry_points}\n")
    return dist


FLOAT32_EPS = 2.0**-23
"""The float32 machine epsilon (the gap between 1 and the next float32): the unit of :func:`assert_close_to_scale`."""


def assert_close_to_scale(actual: Any, expected: Any, *, ulps: float, what: str = "values") -> None:
    """Assert that ``actual`` equals ``expected`` up to ``ulps`` float32 epsilons of the largest ``|expected|``.

    The tolerance for results that should be the same but are computed differently in float32: one sample alone
    and in a batch, one CPU kernel and another (AVX-512, AVX2, SSE: oneDNN and MKL pick by CPU), our port and a
    reference. Those differ only in the order in which a reduction adds its terms, and the rounding error of a sum
    is a few epsilons of the magnitude of its *terms*. That magnitude is the tensor's scale, not the element's own
    value: an element that comes out near zero through cancellation carries the absolute error of the large terms
    it was made from. An elementwise ``rtol`` therefore fails on whichever small elements a CPU happens to round
    differently (it did, on AMD EPYC), while the bound here holds on every kernel path. ``ulps`` is the error budget
    of the whole computation in units of that scale: a few per layer, compounded by depth and amplified by
    classifier-free guidance or by dividing by a small ᾱ. A real bug (rows mixed up, a wrong mask, a missed
    term) changes values by a sizeable fraction of the scale, i.e. by 10^4–10^6 such epsilons, far outside any
    budget used here. Works on numpy arrays and torch tensors (compared in float64).
    """
    import numpy as np

    def as_array(value: Any) -> np.ndarray:
        if hasattr(value, "detach"):
            value = value.detach().float().cpu().numpy()
        return np.asarray(value, dtype=np.float64)

    got, want = as_array(actual), as_array(expected)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert np.isfinite(want).all(), f"{what}: the expected values are not all finite"
    scale = float(np.abs(want).max()) if want.size else 0.0
    error = float(np.abs(got - want).max()) if want.size else 0.0
    bound = ulps * FLOAT32_EPS * max(scale, float(np.finfo(np.float32).tiny))
    assert error <= bound, (
        f"{what}: max |difference| {error:.3e} is {error / (FLOAT32_EPS * max(scale, 1e-30)):.1f} float32 epsilons"
        f" of the scale {scale:.3e}; the budget is {ulps:g}"
    )


def assert_same_as_one_at_a_time(pipeline: Pipeline, results: Sequence[RunResult], ulps: float) -> None:
    """Each video sampled together with others (``generate_many``) equals ``generate`` of its prompt and seed:
    latents up to ``ulps`` float32 epsilons of their scale (see :func:`assert_close_to_scale`: a network's batched
    matmuls round differently with the batch size, and the difference is carried through every step) and the same
    final choice; and different prompts gave different videos."""
    import torch

    for result in results:
        alone = pipeline.generate(result.prompt, seed=result.seed)
        assert_close_to_scale(result.latents, alone.latents, ulps=ulps, what=f"latents of {result.prompt!r}")
        assert result.trace.final is not None and alone.trace.final is not None
        assert result.trace.final.chosen == alone.trace.final.chosen
    assert not torch.allclose(results[0].latents, results[1].latents)


def isolated_plugins(extra: Sequence[tuple[str, Any]] = (), *, strict: bool | None = None) -> Plugins:
    """Built-in combiners, the analytic test components and ``extra`` plugins; no installed entry points.

    ``strict`` (default: ``F2G_STRICT_PLUGINS``) turns a plugin that fails to load or registers nothing into a
    :class:`~f2g_core.errors.PluginError` naming it, instead of a warning (the same rule as ``load_plugins``).
    """
    from f2g_core import gaussian_mixture, textured_mixture
    from f2g_core.plugins import BUILTIN_PLUGINS, load_plugins

    test_components = [("f2g-testing", gaussian_mixture), ("f2g-testing-textured", textured_mixture)]
    loaded = {id(plugin) for _, plugin in test_components}
    extra = [  # a built-in or test module named again (a contract of a built-in) is already there
        (name, plugin)
        for name, plugin in extra
        if id(plugin) not in loaded and getattr(plugin, "__name__", None) not in BUILTIN_PLUGINS
    ]
    return load_plugins(extra=[*test_components, *extra], entry_point_group=None, strict=strict)


def reward_batch(
    frames: np.ndarray | None = None,
    prompt: str = "a red circle moving left",
    n: int = 3,
    num_key_frames: int = 4,
    size: int = 16,
    num_frames: int = 16,
    step: StepInfo | None = None,
    seed: int = 0,
) -> RewardBatch:
    """A RewardBatch of given frames (N, F, H, W, 3) or of seeded random ones."""
    import numpy as np

    from f2g_core.interfaces import RewardBatch, StepInfo

    if frames is None:
        frames = np.random.default_rng(seed).random((n, num_key_frames, size, size, 3), dtype=np.float32)
    count = frames.shape[1]
    indices = tuple(round(i * (num_frames - 1) / max(count - 1, 1)) for i in range(count))
    return RewardBatch(
        prompt=prompt,
        frames=np.asarray(frames, dtype=np.float32),
        frame_indices=indices,
        num_frames=num_frames,
        step=step or StepInfo(index=0, num_steps=50, timestep=999.0),
    )


def textured_batch(
    prompt: str = "a red circle moving left",
    n: int = 3,
    num_key_frames: int = 4,
    size: int = 32,
    num_frames: int = 16,
    seed: int = 0,
) -> RewardBatch:
    """A RewardBatch of ``n`` candidates decoded by the textured analytic backbone from seeded random points:
    every frame has texture, colour and motion, and candidates differ (what an image reward needs to see)."""
    import numpy as np
    import torch

    from f2g_core.textured_mixture import TexturedGaussianMixture

    backbone = TexturedGaussianMixture(
        TexturedGaussianMixture.Options(means=[[0.0, 0.0, 0.0]], frame_size=size, num_frames=num_frames)
    )
    points = torch.from_numpy(np.random.default_rng(seed).normal(0.0, 1.5, size=(n, 3)))
    indices = [round(i * (num_frames - 1) / max(num_key_frames - 1, 1)) for i in range(num_key_frames)]
    return reward_batch(backbone.decode(points, indices), prompt=prompt, num_frames=num_frames)


@pytest.fixture
def f2g_registry() -> Registry:
    return isolated_plugins().registry


@pytest.fixture
def register_plugin() -> Callable[..., Plugins]:
    def register(plugin: Any, name: str = "test-plugin", strict: bool | None = None) -> Plugins:
        return isolated_plugins([(name, plugin)], strict=strict)

    return register


@pytest.fixture
def make_reward_batch() -> Callable[..., RewardBatch]:
    return reward_batch


@pytest.fixture
def make_textured_batch() -> Callable[..., RewardBatch]:
    return textured_batch


@pytest.fixture
def gmm_backbone() -> Any:
    from f2g_core.gaussian_mixture import GaussianMixtureBackbone

    backbone = GaussianMixtureBackbone()
    backbone.load()
    return backbone


@pytest.fixture
def textured_backbone() -> Any:
    from f2g_core.textured_mixture import TexturedGaussianMixture

    backbone = TexturedGaussianMixture()
    backbone.load()
    return backbone


def gmm_run_config(backbone: str = "gaussian-mixture") -> dict[str, Any]:
    """A run config guiding the analytic ``backbone`` towards the mode (2, 2) with Free²Guide (what the
    ``gmm_config`` fixtures return, and what :class:`~f2g_core.contracts.SamplerContract` edits)."""
    return {
        "prompt": "the upper-right mode",
        "backbone": {"type": backbone},
        "rewards": [{"type": "mode-distance", "options": {"target": [2.0, 2.0]}}],
        "sampler": {"num_steps": 20},
        "guidance": {"method": "free2guide", "options": {"num_candidates": 5, "start": 0, "num_guided_steps": 6}},
        "output": {"formats": ["gif"]},
    }


@pytest.fixture
def gmm_config() -> dict[str, Any]:
    return gmm_run_config("gaussian-mixture")


@pytest.fixture
def textured_gmm_config() -> dict[str, Any]:
    return gmm_run_config("gaussian-mixture-textured")
