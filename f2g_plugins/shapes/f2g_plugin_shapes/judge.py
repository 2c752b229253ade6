"""The learned judge: ``rate_grid(prompt, grid)`` → probabilities of ratings 1..9, like an LVLM's answer digits.

The judge sees only the labelled 2×2 key-frame grid that :func:`f2g_core.images.key_frame_grid` makes (what an
LVLM is shown). A perception network (:mod:`f2g_plugin_shapes.judge_net`, trained on rendered, degraded videos)
says, per colour, how likely an object is there, its shape, its motion and where it is on each key frame. The
prompt's requirements are then read off those beliefs: each stated attribute holds with some probability, the
number of violated requirements follows from them (Poisson-binomial), and the rating is 9 with none violated,
5 with one, 3 with two and 1 with more. Blurry, uncertain frames give spread-out ratings, so the expected rating —
the reward ``shapes-judge`` — is graded.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from f2g_plugin_shapes.grammar import COLOURS, MOTIONS, SHAPES, Prompt, parse_prompt
from f2g_plugin_shapes.model_io import JUDGE_FILE, WEIGHTS_DIR

if TYPE_CHECKING:
    from f2g_plugin_shapes.judge_net import JudgeNet, Perception

RATING_BY_ERRORS = (9, 5, 3, 1)
"""Rating given 0, 1, 2 and 3+ violated requirements."""
RELATION_SOFTNESS = 2.0
"""Pixels over which the belief in a spatial relation goes from unlikely to likely."""

_cache: dict[Path, JudgeNet] = {}
_lock = threading.Lock()
_COLOURS = list(COLOURS)


def load_judge(path: str | Path | None = None) -> JudgeNet:
    """Load (once per path, thread-safe) the judge network from safetensors."""
    from f2g_plugin_shapes.judge_net import JudgeConfig, JudgeNet
    from f2g_plugin_shapes.model_io import load_state, read_metadata

    resolved = Path(path) if path else WEIGHTS_DIR / JUDGE_FILE
    with _lock:
        if resolved not in _cache:
            if not resolved.is_file():
                raise FileNotFoundError(f"shapes judge weights not found: {resolved}")
            net = JudgeNet(JudgeConfig(**read_metadata(resolved)["config"]))
            load_state(net, resolved)
            _cache[resolved] = net
        return _cache[resolved]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def requirement_probabilities(prompt: Prompt, seen: Perception, index: int) -> list[float]:
    """Probability that each requirement of ``prompt`` holds in sample ``index`` of the perception batch."""
    present = seen.present[index].numpy().astype(np.float64)
    shape = seen.shape[index].numpy().astype(np.float64)
    motion = seen.motion[index].numpy().astype(np.float64)
    centres = seen.centres[index].numpy().astype(np.float64)
    probs = []
    for obj in prompt.objects:
        c = _COLOURS.index(obj.colour)
        probs.append(present[c] * shape[c, SHAPES.index(obj.shape)])
        if obj.motion is not None:
            probs.append(motion[c, MOTIONS.index(obj.motion)])
    if prompt.relation is not None:
        a = centres[_COLOURS.index(prompt.objects[0].colour)]
        b = centres[_COLOURS.index(prompt.objects[1].colour)]
        dx, dy = a[:, 0] - b[:, 0], a[:, 1] - b[:, 1]
        along, across = {
            "above": (-dy, np.abs(dx)),
            "below": (dy, np.abs(dx)),
            "left of": (-dx, np.abs(dy)),
            "right of": (dx, np.abs(dy)),
        }[prompt.relation]
        probs.append(
            float(np.mean(_sigmoid((along - across) / RELATION_SOFTNESS) * _sigmoid(along / RELATION_SOFTNESS)))
        )
    return [float(np.clip(p, 0.0, 1.0)) for p in probs]


def rating_distribution(requirements: list[float]) -> np.ndarray:
    """Probabilities of ratings 1..9 from the probabilities that each requirement holds."""
    errors = np.zeros(len(requirements) + 1)
    errors[0] = 1.0
    for p in requirements:  # Poisson-binomial: distribution of the number of violated requirements
        errors[1:] = errors[1:] * p + errors[:-1] * (1 - p)
        errors[0] *= p
    out = np.zeros(9)
    for k, mass in enumerate(errors):
        out[RATING_BY_ERRORS[min(k, len(RATING_BY_ERRORS) - 1)] - 1] += mass
    return out / out.sum()


def rate_grids(prompts: list[str], grids: list[Image.Image], weights: str | Path | None = None) -> np.ndarray:
    """Probabilities (B, 9) of ratings 1..9 for each (prompt, grid) pair; the grids go through one forward pass.

    Prompts must follow the shapes grammar (:class:`~f2g_plugin_shapes.grammar.PromptError` otherwise).
    """
    import torch

    from f2g_plugin_shapes.judge_net import JudgeNet, grid_to_tiles

    parsed = [parse_prompt(p) for p in prompts]
    net = load_judge(weights)
    with torch.inference_mode():
        seen = JudgeNet.perceive(net(grid_to_tiles(grids)).float())
    return np.stack([rating_distribution(requirement_probabilities(p, seen, i)) for i, p in enumerate(parsed)])


def rate_grid(prompt: str, grid: Image.Image, weights: str | Path | None = None) -> np.ndarray:
    """Probabilities (9,) of the ratings 1..9 that ``grid`` (a labelled 2×2 key-frame grid) matches ``prompt``."""
    return rate_grids([prompt], [grid], weights)[0]


def expected_rating(probabilities: np.ndarray) -> np.ndarray:
    """Expected rating Σ k·p_k over k = 1..9 (last axis)."""
    return np.asarray(probabilities) @ np.arange(1, 10, dtype=np.float64)
