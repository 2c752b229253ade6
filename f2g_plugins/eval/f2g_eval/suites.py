"""Prompt suites: what an evaluation generates, from a file or from a plugin.

Files: one prompt per line (``.txt`` and anything else); JSON Lines or CSV with a ``prompt`` column and optional
``id``, ``category``, ``dimension`` and ``seed``; and VBench's ``VBench_full_info.json`` as distributed (a list of
``{prompt_en, dimension: [...], auxiliary_info}``). Plugins provide named suites through ``register_suites``.

Item ids key the results store, so they must not change when a suite file is edited: an item without an ``id``
gets one from its prompt (a hash, numbered for repeats), never from its line number.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

from f2g_core.errors import ConfigError
from f2g_core.evaluation import NamedSuite, Suite, SuiteItem
from f2g_core.plugins import default_plugins
from f2g_core.registry import format_validation_error
from pydantic import ValidationError

from f2g_eval.refs import parse_ref

MAX_SEED = 2**63 - 1
"""The largest seed an eval takes: the results store keys each job by its seed, a signed 64-bit SQLite integer."""


def prompt_id(prompt: str) -> str:
    return hashlib.sha1(prompt.encode("utf-8")).hexdigest()[:12]


def _seed(value: Any, where: str) -> int:
    """A suite item's ``seed``: an integer 0..MAX_SEED (JSON ``true``, ``1.5``, ``-5`` or ``1e400`` are refused)."""
    if value is None or value == "":
        return 0
    if isinstance(value, str) and value.strip().isdecimal():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise ConfigError(f"{where}: `seed` must be an integer from 0 to {MAX_SEED} (2^63 - 1), not {value!r}")
    return value


def _with_ids(raw: Iterable[tuple[int, dict[str, Any]]], source: str) -> list[SuiteItem]:
    """Items from ``(line, fields)``; each problem names the file, the line and the item's id if it has one."""
    items: list[SuiteItem] = []
    seen: dict[str, int] = {}
    for line, fields in raw:
        where = f"{source}:{line}" + (f" (item {str(fields['id'])!r})" if fields.get("id") else "")
        prompt = fields.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ConfigError(f"{where}: no prompt (each item needs a non-empty `prompt`)")
        prompt = prompt.strip()
        for name, text in (("prompt", prompt), ("id", str(fields.get("id") or ""))):
            if "\x00" in text:
                raise ConfigError(f"{where}: the {name} contains a NUL character; remove it (is the file text?)")
        dims = fields.get("dimension") or ()
        if isinstance(dims, str):
            dims = [d.strip() for d in dims.replace(";", ",").split(",") if d.strip()]
        if not isinstance(dims, list | tuple) or not all(isinstance(d, str) for d in dims):
            raise ConfigError(f"{where}: `dimension` must be a name or a list of names")
        seed = _seed(fields.get("seed"), where)
        item_id = str(fields.get("id") or "").strip()
        if not item_id:
            base = prompt_id(prompt)
            count = seen.get(base, 0) + 1
            seen[base] = count
            item_id = base if count == 1 else f"{base}-{count}"
        category = fields.get("category")
        items.append(SuiteItem(item_id, prompt, str(category) if category else None, tuple(dims), seed))
    ids = [item.id for item in items]
    if len(ids) != len(set(ids)):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise ConfigError(f"{source}: item id {duplicate!r} is used twice; ids must be unique")
    return items


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path}:{number}: not valid JSON ({error.msg})") from None
        if not isinstance(value, dict):
            raise ConfigError(f"{path}:{number}: each line must be a JSON object with a `prompt`")
        rows.append((number, value))
    return rows


def _read_csv(path: Path) -> list[tuple[int, dict[str, Any]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "prompt" not in reader.fieldnames:
            raise ConfigError(f"{path}:1: the header must have a `prompt` column (got {reader.fieldnames})")
        return [(reader.line_num, dict(row)) for row in reader]


def _read_json(path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    if not isinstance(value, list):
        raise ConfigError(f"{path}: expected a list of prompts (VBench_full_info.json format)")
    rows = []
    for index, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: entry {index} is not an object")
        fields = dict(entry)
        if "prompt" not in fields and "prompt_en" in fields:
            fields["prompt"] = fields.pop("prompt_en")
        rows.append((index + 1, fields))
    return rows


def _read_lines(path: Path) -> list[tuple[int, dict[str, Any]]]:
    return [
        (number, {"prompt": text})
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if text.strip() and not text.lstrip().startswith("#")
    ]


READERS = {".jsonl": _read_jsonl, ".csv": _read_csv, ".json": _read_json}


def named_suites() -> dict[str, type[NamedSuite]]:
    """Suites registered by plugins (``name -> class``; the one registry, aliases included)."""
    registry = default_plugins().registry
    return {key: cast("type[NamedSuite]", entry.cls) for key, entry in registry.entries["suite"].items()}


def _read_file(path: Path) -> list[SuiteItem]:
    """A suite file's items; a file that is not UTF-8 text (binary, UTF-16) is refused naming it."""
    try:
        return _with_ids(READERS.get(path.suffix.lower(), _read_lines)(path), str(path))
    except UnicodeDecodeError as error:
        if path.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise ConfigError(f"suite {str(path)!r} is UTF-16 text; save it as UTF-8") from None
        raise ConfigError(
            f"suite {str(path)!r} is not UTF-8 text (byte {error.start} cannot be decoded; a binary file?); give a "
            ".txt, .jsonl, .csv or VBench .json suite saved as UTF-8"
        ) from None


def _only(items: list[SuiteItem], dimensions: Sequence[str], source: str) -> list[SuiteItem]:
    """The items of any of ``dimensions``; a dimension no item has is refused with the valid names."""
    known = sorted({d for item in items for d in item.dimensions})
    for dimension in dimensions:
        if dimension not in known:
            close = difflib.get_close_matches(dimension, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(
                f"--dimension {dimension!r}: no item of {source} has that dimension; {hint}"
                f"valid: {', '.join(known) or 'none (the suite has no dimensions)'}"
            )
    return [item for item in items if set(dimensions) & set(item.dimensions)]


def load_suite(ref: str, dimensions: Sequence[str] = ()) -> Suite:
    """A suite from a file path or a registered name (``NAME:key=value``), filtered to ``dimensions`` if given."""
    path = Path(ref)
    if path.is_file():
        source = str(path)
        items = _read_file(path)
        name = path.stem
    else:
        name, options = parse_ref(ref, "suite")
        clashes = default_plugins().registry.clashes["suite"]
        if name in clashes:  # two installed distributions register it and F2G_PREFER chooses neither
            raise ConfigError(f"suite {ref!r}: {clashes[name]}")
        registered = named_suites()
        if name not in registered:
            known = ", ".join(sorted(registered)) or "none"
            raise ConfigError(
                f"suite {ref!r}: no such file, and no installed plugin provides a suite of that name "
                f"(named suites: {known})"
            )
        cls = registered[name]
        try:
            suite = cls(cls.Options.model_validate(options))
        except ValidationError as error:
            raise ConfigError(f"suite {name!r}: {format_validation_error(error)}") from None
        source = f"suite {name!r}"
        items = list(suite.items())
    if dimensions:
        items = _only(items, dimensions, source)
    if not items:
        raise ConfigError(f"{source}: no prompts")
    return Suite(name=name, items=tuple(items), source=source)
