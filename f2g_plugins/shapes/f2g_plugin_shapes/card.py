"""Model-card figure: ``python -m f2g_plugin_shapes.card OUT.png`` — unguided and guided samples as key-frame rows.

Each row shows the four key frames (0, 5, 10, 15) of one video, unguided on the left and guided with
``shapes-judge`` (the plugin's default settings) on the right, with the evaluator's verdict in the row label.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

PROMPTS = (
    "a red circle moving left",
    "a blue square moving up",
    "a yellow triangle above a green circle",
    "a magenta circle and a cyan triangle",
    "a green square left of a red triangle",
)


def pipelines() -> tuple[Any, Any]:
    """Unguided and default-guided pipelines on an isolated registry (this plugin and the built-ins only)."""
    from f2g_core.pipeline import Pipeline
    from f2g_core.plugins import load_plugins

    import f2g_plugin_shapes.plugin as plugin

    registry = load_plugins(extra=[("f2g-plugin-shapes", plugin)], entry_point_group=None).registry
    defaults = dict(plugin.default_run_config())
    plain = {**defaults, "guidance": {"method": "none"}}
    return Pipeline.from_config(plain, registry=registry), Pipeline.from_config(defaults, registry=registry)


def main(argv: list[str] | None = None) -> None:
    from f2g_plugin_shapes.evaluator import evaluate

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    plain, guided = pipelines()
    scale, keys = 3, [0, 5, 10, 15]
    tile = 32 * scale
    label_h = 14
    width = 2 * (4 * tile + 8)
    canvas = Image.new("RGB", (width, len(PROMPTS) * (tile + label_h) + label_h), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 1), "unguided", fill=(0, 0, 0))
    draw.text((4 * tile + 12, 1), "guided (shapes-judge, defaults)", fill=(0, 0, 0))
    for row, prompt in enumerate(PROMPTS):
        y = label_h + row * (tile + label_h)
        verdicts = []
        for col, pipeline in enumerate((plain, guided)):
            video = pipeline.generate(prompt, seed=args.seed).video
            verdicts.append("PASS" if evaluate(prompt, video).overall else "fail")
            frames = (np.clip(video[keys], 0, 1) * 255).astype(np.uint8)
            for k, frame in enumerate(frames):
                image = Image.fromarray(frame).resize((tile, tile), Image.Resampling.NEAREST)
                canvas.paste(image, (col * (4 * tile + 8) + k * tile, y + label_h))
        draw.text((4, y + 1), f"{prompt}  [{verdicts[0]} / {verdicts[1]}]", fill=(0, 0, 0))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
