"""Every malformed config or API call found by hostile testing gets one clear f2g error (issue 11, item 5)."""

import json
import math
from pathlib import Path
from typing import Any

import pytest

from f2g_core.config import REDACTED, ConfigSources, dump_yaml, load_config, read_config_file
from f2g_core.errors import ConfigError, shorten_values
from f2g_core.pipeline import Pipeline, generate
from f2g_core.registry import Registry

pytestmark = pytest.mark.plugin_independent  # never loads the installed plugins (tests/conftest.py)

BASE: dict[str, Any] = {"backbone": {"type": "gaussian-mixture"}, "rewards": [{"type": "mode-distance"}]}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("dup.yaml", "seed: 1\nbackbone: {type: gaussian-mixture}\nseed: 2\n"),
        ("nested.yaml", "backbone: {type: a, type: b}\n"),
        ("dup.json", '{"seed": 1, "backbone": {"type": "gaussian-mixture"}, "seed": 2}'),
    ],
)
def test_duplicate_keys_are_errors_not_last_one_wins(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match="duplicate key") as info:
        read_config_file(path)
    assert name in str(info.value)


def test_a_binary_config_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "weights.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00binary")
    with pytest.raises(ConfigError, match=r"weights\.yaml: not a text file"):
        read_config_file(path)


def test_a_directory_is_not_called_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory, not a config file"):
        read_config_file(tmp_path)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"seed": True}, "seed: True is a boolean"),
        ({"sampler": {"num_steps": True}}, "num_steps: True is a boolean"),
        ({"rewards": [{"type": "mode-distance", "weight": False}]}, "weight: False is a boolean"),
        ({"rewards": [{"type": "mode-distance", "weight": math.nan}]}, "rewards[0].weight"),
        ({"rewards": [{"type": "mode-distance", "weight": math.inf}]}, "rewards[0].weight"),
    ],
)
def test_booleans_and_non_finite_numbers_are_rejected(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config({**BASE, **changes})
    assert expected in str(info.value)


def test_json_true_seed_from_a_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps({**BASE, "seed": True}))
    with pytest.raises(ConfigError, match=r"run\.json: seed: True is a boolean"):
        load_config(path)


def test_errors_are_blamed_on_the_layer_that_set_the_value() -> None:
    sources = ConfigSources()
    sources.merge("plugin defaults", {**BASE, "seed": 3})
    sources.merge("run.yaml", {"sampler": {"num_steps": 1}})
    sources.merge("command-line flags", {"seed": -1})
    sources.set(["rewards.0.weight=nan"])
    with pytest.raises(ConfigError) as info:
        sources.load()
    problems = str(info.value).split("; ")
    assert any(p.startswith("run.yaml: sampler.num_steps:") for p in problems), problems
    assert any(p.startswith("command-line flags: seed:") for p in problems), problems
    assert any(p.startswith("--set rewards.0.weight=nan: rewards[0].weight:") for p in problems), problems
    assert "plugin defaults" not in str(info.value)


def test_saved_configs_keep_the_name_of_the_key_variable_but_not_keys() -> None:
    dumped = dump_yaml({"rewards": [{"options": {"api_key_env": "MY_KEY", "api_key": "sk-secret", "token": "t"}}]})
    assert "api_key_env: MY_KEY" in dumped and "sk-secret" not in dumped and dumped.count(REDACTED) == 2


def test_long_values_in_errors_are_cut() -> None:
    message = f"unexpected {'a red circle ' * 800!r} in the prompt"
    short = shorten_values(message)
    assert len(short) < 200 and "(10400 characters)" in short and short.startswith("unexpected 'a red circle")


def test_apostrophes_in_prose_are_not_quotes() -> None:
    """Words like README's and project's far apart in one message are prose, not a quoted value to cut."""
    message = (
        "backbone: none configured. Pass --backbone ID or --config FILE, or install a plugin that provides defaults "
        "(the README's quick start installs the embedded default world). No installed plugin provides it: install "
        "the plugin that does (docs/plugins.md lists the project's plugins)."
    )
    assert shorten_values(message) == message
    quoted = f"bad prompt {'x' * 200!r} (the README's limits)"
    assert "(200 characters)" in shorten_values(quoted)


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda registry, config: generate(None, registry=registry), "config: expected a RunConfig"),  # type: ignore[arg-type]
        (lambda registry, config: generate(42, registry=registry), "not int"),  # type: ignore[arg-type]
        (lambda registry, config: generate(config, prompt=123, save=False, registry=registry), "prompt: expected"),  # type: ignore[arg-type]
        (lambda registry, config: generate(config, seed=1.5, save=False, registry=registry), "seed: expected"),  # type: ignore[arg-type]
        (lambda registry, config: generate(config, seed=True, save=False, registry=registry), "seed: expected"),
        (lambda registry, config: generate(config, seed=-1, save=False, registry=registry), "seed: expected"),
    ],
)
def test_python_api_misuse_raises_f2g_errors(
    f2g_registry: Registry, gmm_config: dict[str, Any], call: Any, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        call(f2g_registry, gmm_config)


def test_api_misuse_is_caught_before_loading(f2g_registry: Registry, gmm_config: dict[str, Any]) -> None:
    pipeline = Pipeline.from_config(gmm_config, registry=f2g_registry)
    with pytest.raises(ConfigError, match="prompt: expected a non-empty string, not list"):
        pipeline.generate(prompt=["a", "b"])  # type: ignore[arg-type]
    assert not pipeline._loaded
