"""The prompt grammar of the shapes world: vocabulary, parsed-prompt types and a strict parser.

The grammar is deliberately small so every prompt can be rendered, evaluated exactly and encoded by a tiny text
encoder. Word order matters (``a red circle above a blue square`` is not ``a blue square above a red circle``),
which is why the parsed form keeps the two objects in order.

    prompt   := object | object "and" object | object relation object
    object   := ("a" | "an") colour shape [motion]
    motion   := "moving" ("left" | "right" | "up" | "down") | "staying still" | "still"
    relation := "above" | "below" | ["to"] ["the"] "left of" | ["to"] ["the"] "right of"

An object without a motion phrase may move in any way (the prompt does not constrain it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from f2g_core.errors import ConfigError

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 185, 60),
    "blue": (40, 80, 235),
    "yellow": (235, 215, 45),
    "magenta": (215, 55, 215),
    "cyan": (50, 215, 225),
}
"""Palette (RGB, 0-255): six colours far apart in RGB so blurry generated frames still segment."""

BACKGROUND: tuple[int, int, int] = (24, 24, 30)
"""The plain dark background."""

SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
MOTIONS: tuple[str, ...] = ("left", "right", "up", "down", "still")
RELATIONS: tuple[str, ...] = ("above", "below", "left of", "right of")

_RELATION_WORDS: dict[str, str] = {
    "above": "above",
    "below": "below",
    "left of": "left of",
    "right of": "right of",
    "to the left of": "left of",
    "to the right of": "right of",
    "to left of": "left of",
    "to right of": "right of",
}

VOCABULARY: tuple[str, ...] = (
    "a",
    "an",
    *COLOURS,
    *SHAPES,
    "moving",
    "left",
    "right",
    "up",
    "down",
    "staying",
    "still",
    "and",
    "above",
    "below",
    "to",
    "the",
    "of",
)
"""Every word the grammar accepts (also the text encoder's vocabulary, after the special tokens)."""


class PromptError(ConfigError):
    """A prompt outside the shapes grammar; the message lists the accepted vocabulary and forms.

    A :class:`~f2g_core.errors.ConfigError` (hence also a ``ValueError``), so the CLI prints it as a user error.
    """


@dataclass(frozen=True)
class ObjectSpec:
    """One requested object: colour, shape and (optionally) motion; ``motion`` None = unconstrained."""

    colour: str
    shape: str
    motion: str | None = None

    def phrase(self) -> str:
        """The canonical phrase for this object."""
        text = f"a {self.colour} {self.shape}"
        if self.motion == "still":
            text += " staying still"
        elif self.motion is not None:
            text += f" moving {self.motion}"
        return text


@dataclass(frozen=True)
class Prompt:
    """A parsed prompt: one or two objects and, for two, an optional spatial relation (objects[0] REL objects[1])."""

    objects: tuple[ObjectSpec, ...]
    relation: str | None = None

    @property
    def category(self) -> str:
        """``single``, ``multiple`` (two objects joined by "and") or ``relation``."""
        if len(self.objects) == 1:
            return "single"
        return "relation" if self.relation else "multiple"

    def text(self) -> str:
        """The canonical prompt text (what the text encoder was trained on)."""
        if len(self.objects) == 1:
            return self.objects[0].phrase()
        joiner = f" {self.relation} " if self.relation else " and "
        return joiner.join(o.phrase() for o in self.objects)


def vocabulary_help() -> str:
    """A human-readable description of what the grammar accepts (used in error messages)."""
    return (
        f"colours: {', '.join(COLOURS)}; shapes: {', '.join(SHAPES)}; "
        "motions: moving left|right|up|down, staying still; relations: above, below, (to the) left of, "
        "(to the) right of; forms: 'a red circle moving left', 'a red circle and a blue square', "
        "'a yellow triangle above a green circle'. Accepted words: " + ", ".join(VOCABULARY)
    )


def normalise(text: str) -> list[str]:
    """Lower-case, drop punctuation, split into words."""
    return re.sub(r"[^a-z ]+", " ", text.lower().replace("-", " ")).split()


def _parse_object(words: list[str], pos: int, prompt: str) -> tuple[ObjectSpec, int]:
    if pos >= len(words) or words[pos] not in ("a", "an"):
        raise PromptError(f"expected 'a' at word {pos + 1} of {prompt!r}. Accepted: {vocabulary_help()}")
    if pos + 2 >= len(words):
        raise PromptError(f"incomplete object in {prompt!r}: expected 'a COLOUR SHAPE'. Accepted: {vocabulary_help()}")
    colour, shape = words[pos + 1], words[pos + 2]
    if colour not in COLOURS:
        raise PromptError(f"unknown colour {colour!r} in {prompt!r}. Accepted: {vocabulary_help()}")
    if shape not in SHAPES:
        raise PromptError(f"unknown shape {shape!r} in {prompt!r}. Accepted: {vocabulary_help()}")
    pos += 3
    motion: str | None = None
    if pos < len(words) and words[pos] == "moving":
        if pos + 1 >= len(words) or words[pos + 1] not in ("left", "right", "up", "down"):
            raise PromptError(f"'moving' must be followed by left, right, up or down in {prompt!r}")
        # "moving left of" would be a relation typo; "left" followed by "of" is not a motion.
        if pos + 2 < len(words) and words[pos + 2] == "of":
            raise PromptError(f"ambiguous 'moving {words[pos + 1]} of' in {prompt!r}")
        motion, pos = words[pos + 1], pos + 2
    elif pos + 1 < len(words) and words[pos] == "staying" and words[pos + 1] == "still":
        motion, pos = "still", pos + 2
    elif pos < len(words) and words[pos] == "still":
        motion, pos = "still", pos + 1
    return ObjectSpec(colour, shape, motion), pos


def parse_prompt(text: str) -> Prompt:
    """Parse ``text`` into a :class:`Prompt`; raise :class:`PromptError` (listing the vocabulary) otherwise."""
    words = normalise(text)
    if not words:
        raise PromptError(f"empty prompt. Accepted: {vocabulary_help()}")
    unknown = [w for w in words if w not in VOCABULARY]
    if unknown:
        raise PromptError(
            f"words outside the shapes grammar in {text!r}: {', '.join(repr(w) for w in unknown)}. "
            f"Accepted: {vocabulary_help()}"
        )
    if len(words) < 3:
        raise PromptError(f"incomplete prompt {text!r}: expected 'a COLOUR SHAPE ...'. Accepted: {vocabulary_help()}")
    first, pos = _parse_object(words, 0, text)
    if pos == len(words):
        return Prompt((first,))
    relation: str | None = None
    if words[pos] == "and":
        pos += 1
    else:
        for phrase in sorted(_RELATION_WORDS, key=len, reverse=True):
            n = len(phrase.split())
            if words[pos : pos + n] == phrase.split():
                relation, pos = _RELATION_WORDS[phrase], pos + n
                break
        else:
            raise PromptError(
                f"unexpected {' '.join(words[pos:])!r} in {text!r}: expected 'and' or a relation. "
                f"Accepted: {vocabulary_help()}"
            )
    second, pos = _parse_object(words, pos, text)
    if pos != len(words):
        raise PromptError(f"unexpected trailing words {' '.join(words[pos:])!r} in {text!r}. {vocabulary_help()}")
    if first.colour == second.colour:
        raise PromptError(f"the two objects in {text!r} must have different colours")
    if relation is not None and (first.motion is not None or second.motion is not None):
        raise PromptError(f"motion words are not supported together with a spatial relation: {text!r}")
    return Prompt((first, second), relation)
