"""Draw the concept figures of the docs (docs/figures/*.svg) with matplotlib.

    python scripts/make_figures.py [--out docs/figures]

The SVGs are committed; rerun this after changing it. Output is deterministic (fixed seeds, fixed SVG ids, no
dates), so a rerun without changes leaves ``git status`` clean.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

OUT = Path(__file__).resolve().parents[1] / "docs" / "figures"
BLUE, GREY, GREEN, RED = "#3f51b5", "#9e9e9e", "#2e7d32", "#c62828"


def _box(ax: plt.Axes, x: float, y: float, text: str, width: float = 1.7, colour: str = BLUE) -> None:
    ax.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - 0.32),
            width,
            0.64,
            boxstyle="round,pad=0.04",
            facecolor="white",
            edgecolor=colour,
            linewidth=1.5,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=8.5)


def _arrow(ax: plt.Axes, start: tuple[float, float], end: tuple[float, float], colour: str = GREY) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, color=colour, linewidth=1.1))


def guided_step() -> plt.Figure:
    """One Free²Guide step: n proposals, their x̂0, key frames, scores, keep the best."""
    fig, ax = plt.subplots(figsize=(9.5, 3.6))
    ax.set_xlim(-0.3, 11.3)
    ax.set_ylim(-0.4, 4.7)
    ax.axis("off")
    scores = [5.1, 7.4, 3.2, 6.0]
    best = int(np.argmax(scores))
    _box(ax, 0.6, 2.0, "latents $x_t$\n(step $t$)", width=1.3)
    for i, score in enumerate(scores):
        y = 3.6 - i * 1.07
        colour = GREEN if i == best else BLUE
        _arrow(ax, (1.3, 2.0), (2.05, y))
        _box(ax, 2.9, y, f"candidate {i}: $x_{{t-1}}^{{({i})}}$", colour=colour)
        _arrow(ax, (3.75, y), (4.35, y))
        _box(ax, 5.2, y, f"$\\hat{{x}}_0^{{({i})}}$ (Tweedie)", colour=colour)
        _arrow(ax, (6.05, y), (6.55, y))
        rng = np.random.default_rng(i)
        for f in range(4):  # four key frames as small tiles
            ax.imshow(
                rng.random((4, 4, 3)) * 0.6 + 0.2,
                extent=(6.6 + f * 0.36, 6.92 + f * 0.36, y - 0.16, y + 0.16),
                aspect="auto",
            )
        _arrow(ax, (8.1, y), (8.55, y))
        _box(ax, 9.15, y, f"reward {score:.1f}", width=1.1, colour=colour)
    _arrow(ax, (9.75, 3.6 - best * 1.07), (10.45, 2.0), GREEN)
    _box(ax, 10.75, 2.0, "keep\nbest", width=0.9, colour=GREEN)
    ax.text(2.9, 4.25, "n noises →\nn transitions", ha="center", fontsize=8, color=GREY)
    ax.text(5.2, 4.25, "one batched\ndenoiser call", ha="center", fontsize=8, color=GREY)
    ax.text(7.3, 4.25, "decode only\nthe key frames", ha="center", fontsize=8, color=GREY)
    ax.text(9.15, 4.25, "all rewards,\nconcurrently", ha="center", fontsize=8, color=GREY)
    ax.set_title("One guided step (Free²Guide); the kept x̂0 is reused by the next step", fontsize=9, pad=14)
    return fig


def _walk(rng: np.random.Generator, start: float, steps: int, drift: float = 0.0) -> np.ndarray:
    return start + np.cumsum(rng.normal(drift, 0.35, steps))


def search_methods() -> plt.Figure:
    """Chains over sampling steps for each search method: plain, best-of-N, Free²Guide, SMC, beam search."""
    steps, guided = 20, 6
    fig, axes = plt.subplots(1, 5, figsize=(13, 2.9))
    rng = np.random.default_rng(3)
    t = np.arange(steps + 1)

    ax = axes[0]
    ax.plot(t, np.r_[0, _walk(rng, 0, steps)], color=BLUE)
    ax.set_title("plain sampling\nT model calls", fontsize=9)

    ax = axes[1]
    finals = []
    for _ in range(5):
        path = np.r_[0, _walk(rng, 0, steps)]
        finals.append(path)
    best = int(np.argmax([p[-1] for p in finals]))
    for i, path in enumerate(finals):
        ax.plot(t, path, color=GREEN if i == best else GREY, linewidth=2 if i == best else 1)
    ax.scatter([steps] * 5, [p[-1] for p in finals], color=[GREEN if i == best else GREY for i in range(5)], zorder=3)
    ax.set_title("best-of-N: N whole videos,\nscore at the end: N·T calls", fontsize=9)

    ax = axes[2]
    x = 0.0
    path = [x]
    for k in range(steps):
        if k < guided:
            options = x + rng.normal(0, 0.35, 5)
            for value in options:
                ax.plot([k, k + 1], [x, value], color=GREY, linewidth=0.8)
            x = float(options.max())
        else:
            x += float(rng.normal(0, 0.35))
        path.append(x)
    ax.plot(t, path, color=GREEN, linewidth=2)
    ax.axvspan(0, guided, color=GREEN, alpha=0.07)
    ax.set_title("Free²Guide: n candidates at each\nof the first K steps: T + K(n−1) calls", fontsize=9)

    ax = axes[3]
    particles = np.zeros(6)
    for k in range(steps):
        nxt = particles + rng.normal(0, 0.35, particles.size)
        for a, b in zip(particles, nxt, strict=True):
            ax.plot([k, k + 1], [a, b], color=GREY, linewidth=0.8)
        if k % 4 == 3:  # resample by weight: the good particles are duplicated
            weights = np.exp(nxt - nxt.max())
            nxt = nxt[rng.choice(nxt.size, nxt.size, p=weights / weights.sum())]
            ax.scatter([k + 1] * nxt.size, nxt, color=GREEN, s=8, zorder=3)
        particles = nxt
    ax.set_title("particles (SMC / FK steering):\nP chains, resampled by reward", fontsize=9)

    ax = axes[4]
    beams = np.zeros(2)
    for k in range(steps):
        children = np.repeat(beams, 3) + rng.normal(0, 0.35, beams.size * 3)
        for parent, child in zip(np.repeat(beams, 3), children, strict=True):
            ax.plot([k, k + 1], [parent, child], color=GREY, linewidth=0.6)
        beams = np.sort(children)[-2:]  # keep the top B (a look-ahead estimate scores them in DLBS)
        ax.scatter([k + 1] * 2, beams, color=GREEN, s=6, zorder=3)
    ax.set_title("beam search (DLBS):\nK proposals per beam, keep top B", fontsize=9)

    for ax in axes:
        ax.set_xlabel("sampling step", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("reward of the chain (schematic)", fontsize=8)
    fig.tight_layout()
    return fig


FIGURES = {"guided_step.svg": guided_step, "search_methods.svg": search_methods}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    plt.rcParams["svg.hashsalt"] = "f2g"  # stable element ids
    for name, draw in FIGURES.items():
        figure = draw()
        figure.savefig(args.out / name, metadata={"Date": None}, bbox_inches="tight")
        plt.close(figure)
        print(args.out / name)


if __name__ == "__main__":
    main()
