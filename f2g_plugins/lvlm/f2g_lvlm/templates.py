"""Versioned prompt templates of the Free²Guide scoring protocol, and the prompt built from one.

An LVLM is shown the key frames of a candidate video (a labelled 2×2 grid by default, or the frames one by one)
and asked whether the text prompt describes the video well, answering on a 1–9 scale or yes/no after a short
reasoning, in a final line ``Answer: N``. The exact wording changes scores, so every template has a version that
goes into the cache key and the trace: editing a template without bumping its version would silently mix old and
new answers in the cache. Custom wording (``system_prompt`` / ``question`` options) gets a version derived from
its text, so that cannot happen by accident.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field, model_validator

Scale = Literal["1-9", "yes-no"]
ImageMode = Literal["grid", "frames"]

SCALES: tuple[Scale, ...] = ("1-9", "yes-no")

_INSTRUCTION = {
    "1-9": (
        'a final line of exactly the form "Answer: N", where N is a single integer from 1 to 9: 1 means the '
        "prompt does not describe the video at all, 9 means it describes the video perfectly"
    ),
    "yes-no": (
        'a final line of exactly the form "Answer: yes" if the prompt describes the video well, or "Answer: no" '
        "if it does not"
    ),
}

_REASONED_SYSTEM = (
    "You are an expert evaluator of AI-generated videos. You will see {layout}. Judge how well the video matches "
    "the text prompt: its subjects, their attributes and counts, actions, spatial relations, style, and "
    "consistency across frames.\nFirst give a brief reasoning. Then end your reply with {instruction}."
)
_DIRECT_SYSTEM = (
    "You are an expert evaluator of AI-generated videos. You will see {layout}. Judge how well the video matches "
    "the text prompt: its subjects, their attributes and counts, actions, spatial relations, style, and "
    "consistency across frames.\nReply with nothing but {instruction}."
)
_QUESTION = 'Prompt: "{prompt}"\nDoes this prompt describe the video well?'


@dataclass(frozen=True)
class Template:
    """The wording of one scoring protocol. ``system`` and ``question`` are ``str.format`` templates.

    Placeholders: ``{layout}`` (how the frames are shown), ``{instruction}`` (how to answer, per scale),
    ``{prompt}`` (the video prompt), ``{num_frames}`` (key frames shown).
    """

    name: str
    version: str
    system: str
    question: str
    answer_prefix: str = "Answer:"

    @property
    def fingerprint(self) -> str:
        """``name@version``: what the cache key and the trace record."""
        return f"{self.name}@{self.version}"


BUILTIN_TEMPLATES: dict[str, Template] = {
    "free2guide": Template("free2guide", "1", _REASONED_SYSTEM, _QUESTION),
    "free2guide-direct": Template("free2guide-direct", "1", _DIRECT_SYSTEM, _QUESTION),
}
"""Built-in templates: reasoning then answer (remote LVLMs, as in the paper), or the answer alone (in-process
models scored from the logits right after ``Answer:``, with no generation)."""


def resolve_template(
    name: str,
    system_prompt: str | None = None,
    question: str | None = None,
    version: str | None = None,
) -> Template:
    """The built-in template ``name``, with optional overrides of its wording.

    Overridden wording gets the version ``version`` if given, else ``custom-<hash of the text>``.
    """
    try:
        base = BUILTIN_TEMPLATES[name]
    except KeyError:
        known = ", ".join(sorted(BUILTIN_TEMPLATES))
        from f2g_core.errors import ConfigError

        raise ConfigError(f"unknown LVLM template {name!r}; built-in templates: {known}") from None
    if system_prompt is None and question is None:
        return base if version is None else Template(base.name, version, base.system, base.question)
    system = system_prompt if system_prompt is not None else base.system
    text = question if question is not None else base.question
    digest = hashlib.sha256(f"{system}\x00{text}".encode()).hexdigest()[:12]
    return Template(f"{name}+custom", version or f"custom-{digest}", system, text, base.answer_prefix)


def layout_text(num_frames: int, mode: ImageMode, columns: int | None = None) -> str:
    """How the key frames are shown, in words (the grid layout matches :func:`f2g_core.images.key_frame_grid`)."""
    if mode == "frames":
        return f"{num_frames} frames of one video, as separate images in temporal order"
    if num_frames == 4 and columns in (None, 2):
        return (
            "four frames of one video arranged in a 2×2 grid: the top-left image is the first frame, the top-right "
            "the second, the bottom-left the third and the bottom-right the fourth (each tile is labelled with its "
            "number)"
        )
    if num_frames == 1:
        return "one frame of a video"
    cols = columns or math.ceil(math.sqrt(num_frames))
    return (
        f"{num_frames} frames of one video arranged in a grid with {cols} columns, in temporal order from left to "
        "right and top to bottom (each tile is labelled with its number)"
    )


@dataclass(frozen=True)
class ScoringPrompt:
    """The texts sent with the images of one candidate."""

    system: str
    question: str
    answer_prefix: str
    template: str
    """The template's fingerprint (``name@version``)."""


def build_prompt(template: Template, prompt: str, scale: Scale, num_frames: int, mode: ImageMode) -> ScoringPrompt:
    """Fill ``template`` for one video prompt. Unknown placeholders raise a :class:`ConfigError`."""
    values = {
        "layout": layout_text(num_frames, mode),
        "instruction": _INSTRUCTION[scale],
        "prompt": prompt,
        "num_frames": num_frames,
        "scale": scale,
    }
    try:
        system = template.system.format(**values)
        question = template.question.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        from f2g_core.errors import ConfigError

        raise ConfigError(
            f"LVLM template {template.fingerprint}: bad placeholder {exc}; use {{prompt}}, {{layout}}, "
            "{instruction}, {num_frames} or {scale}, and double literal braces"
        ) from None
    return ScoringPrompt(system, question, template.answer_prefix, template.fingerprint)


class TemplateOptions(BaseModel):
    """The wording options every LVLM reward shares (remote or in-process); mixed into their ``Options``."""

    scale: Scale = Field("1-9", description="Answer scale: '1-9' (score in [1, 9]) or 'yes-no' (P(yes) in [0, 1]).")
    template: str = Field("free2guide", description="Built-in prompt template (see f2g_lvlm.templates).")
    system_prompt: str | None = Field(None, description="Replace the template's system text ({layout}, …).")
    question: str | None = Field(None, description="Replace the template's question ({prompt}, …).")
    template_version: str | None = Field(None, description="Version label of custom wording (cache key, trace).")
    images: ImageMode = Field("grid", description="'grid': one labelled grid image; 'frames': one image per frame.")

    @model_validator(mode="after")
    def _wording_is_usable(self) -> TemplateOptions:
        self.resolved_template()  # refused with the options (``f2g run --check``), not when the reward is built
        return self

    def resolved_template(self) -> Template:
        """The template these options select, checked now (a bad template is a configuration error, not a failure
        mid-video): its placeholders must be known, and the video's prompt must reach the judge."""
        template = resolve_template(self.template, self.system_prompt, self.question, self.template_version)
        marker = "\x00the video prompt\x00"
        built = build_prompt(template, marker, self.scale, 4, self.images)
        if marker not in built.system and marker not in built.question:
            from f2g_core.errors import ConfigError

            raise ConfigError(
                f"LVLM template {template.fingerprint}: neither question nor system_prompt contains {{prompt}}, so "
                "the judge would never see the video's prompt; add {prompt} to question (the built-in one is "
                f"{_QUESTION!r})"
            )
        return template
