"""f2g-plugin-shapes: f2g's embedded default world.

A procedural world of coloured shapes moving on a 32×32 canvas, a tiny trained text-to-video model of it
(backbone ``shapes``), a learned judge that rates the labelled key-frame grid like an LVLM would (reward
``shapes-judge``) and an exact, rule-based evaluator (reward ``shapes-oracle`` and :func:`evaluate`).

Importing this package is cheap (numpy and scipy only); torch is imported when a model is loaded.
"""

from __future__ import annotations

from f2g_plugin_shapes.evaluator import DIMENSIONS, Evaluation, evaluate
from f2g_plugin_shapes.grammar import Prompt, PromptError, parse_prompt
from f2g_plugin_shapes.world import render_prompt

__all__ = ["DIMENSIONS", "Evaluation", "Prompt", "PromptError", "evaluate", "parse_prompt", "render_prompt"]
__version__ = "0.2.0"
