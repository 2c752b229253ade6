"""Run-config loading: formats, one-line path-qualified errors, overrides, redaction."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from f2g_core.config import REDACTED, apply_overrides, dump_yaml, load_config
from f2g_core.errors import ConfigError
from f2g_core.pipeline import Pipeline
from f2g_core.registry import Registry

pytestmark = pytest.mark.plugin_independent  # never loads the installed plugins (tests/conftest.py)

BASE: dict[str, Any] = {"backbone": {"type": "gaussian-mixture"}, "rewards": [{"type": "mode-distance"}]}


def _with(**changes: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(BASE))
    for dotted, value in changes.items():
        target = data
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
        target[last] = value
    return data


MALFORMED = [
    (_with(seed="abc"), "seed:"),
    (_with(sampler__num_steps="many"), "sampler.num_steps:"),
    (_with(sampler__eta=2), "sampler.eta:"),
    (_with(guidance__num_candidates=5), "guidance: num_candidates are options of the method now; write guidance: {"),
    (_with(guidance__method=""), "guidance.method:"),
    (_with(guidance__key_frames=[-1]), "guidance.key_frames"),
    (_with(colour="red"), "colour: unknown key"),
    (_with(guidance__beam=3), "guidance.beam: unknown key"),
    ({"rewards": [{"type": "mode-distance"}]}, "backbone: Field required"),
    (_with(rewards=[{"type": "mode-distance", "weight": "heavy"}]), "rewards[0].weight:"),
    (_with(rewards=[{"options": {}}]), "rewards[0].type: Field required"),
    (_with(output__fps=0), "output.fps:"),
]


@pytest.mark.parametrize(("data", "expected"), MALFORMED)
def test_malformed_configs_give_one_line_path_qualified_errors(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(data)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message and "Value error," not in message


COMPONENT_ERRORS = [
    (
        _with(backbone={"type": "gausian-mixture"}),
        "backbone.type: unknown backbone 'gausian-mixture'. Did you mean 'gaussian-mixture'",
    ),
    (_with(backbone={"type": "gaussian-mixture", "options": {"std": -1}}), "backbone.options.std:"),
    (
        _with(rewards=[{"type": "mode-distance"}, {"type": "mode-distance", "options": {"detail": "high"}}]),
        "rewards[1].options.detail: unknown key",
    ),
    (_with(rewards=[{"type": "openai"}]), "rewards[0].type: unknown reward 'openai'"),
    (_with(combiner={"type": "borda-count"}), "combiner.type: unknown combiner"),
    (_with(guidance__method="bream"), "guidance.method: unknown sampler 'bream'. Did you mean 'beam'"),
    (_with(guidance__options={"num_candidates": 0}), "guidance.options.num_candidates:"),
    (_with(guidance__options={"selection": "max"}), "guidance.options.selection:"),
    (_with(guidance__options={"temperature": 0}), "guidance.options.temperature:"),
    (_with(guidance__options={"beam": 3}), "guidance.options.beam: unknown key"),
    (_with(guidance__options={"start": 45}, sampler__num_steps=50), "guidance.options: steps 45..50 are guided"),
    (_with(guidance__options={"num_guided_steps": 60}), "guidance.options: steps 0..59 are guided"),
    (_with(rewards=[]), "rewards: guidance method 'free2guide' needs at least one reward"),
]


@pytest.mark.parametrize(("data", "expected"), COMPONENT_ERRORS)
def test_component_errors_name_the_config_path(data: dict[str, Any], expected: str, f2g_registry: Registry) -> None:
    with pytest.raises(ConfigError) as info:
        Pipeline.from_config(data, registry=f2g_registry)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_key_frames_beyond_the_video_are_rejected(f2g_registry: Registry) -> None:
    pipeline = Pipeline.from_config(_with(guidance__key_frames=[0, 9], prompt="x"), registry=f2g_registry)
    with pytest.raises(ConfigError, match=r"guidance.key_frames: frame\(s\) \[9\] out of range"):
        pipeline.generate()


@pytest.mark.parametrize("suffix", [".yaml", ".toml", ".json"])
def test_all_file_formats_load_the_same(tmp_path: Path, suffix: str) -> None:
    data = _with(seed=3, guidance__options={"num_candidates": 7})
    path = tmp_path / f"run{suffix}"
    if suffix == ".yaml":
        path.write_text(yaml.safe_dump(data))
    elif suffix == ".json":
        path.write_text(json.dumps(data))
    else:
        path.write_text(
            'seed = 3\n[backbone]\ntype = "gaussian-mixture"\n[guidance.options]\nnum_candidates = 7\n'
            '[[rewards]]\ntype = "mode-distance"\n'
        )
    config = load_config(path)
    assert (
        config.seed == 3
        and config.guidance.options["num_candidates"] == 7
        and config.rewards[0].type == "mode-distance"
    )


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_config(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(yaml.safe_dump(_with(seed=-1)))
    with pytest.raises(ConfigError, match=r"wrong.yaml: seed:"):
        load_config(wrong)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="unknown config format"):
        (tmp_path / "x.ini").write_text("")
        load_config(tmp_path / "x.ini")


def test_overrides_parse_values_and_reject_nonsense() -> None:
    data = apply_overrides(
        BASE, ["guidance.options.num_candidates=10", "guidance.key_frames=[0, 5]", "rewards.0.weight=0.5"]
    )
    config = load_config(data)
    assert config.guidance.options["num_candidates"] == 10 and config.guidance.key_frames == [0, 5]
    assert config.rewards[0].weight == 0.5
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        apply_overrides(BASE, ["guidance.options.num_candidates"])


def test_reward_names_are_unique() -> None:
    config = load_config(
        _with(rewards=[{"type": "mode-distance"}, {"type": "mode-distance"}, {"type": "x", "name": "judge"}])
    )
    assert config.reward_names() == ["mode-distance-0", "mode-distance-1", "judge"]
    with pytest.raises(ConfigError, match="same name"):
        load_config(_with(rewards=[{"type": "a", "name": "j"}, {"type": "b", "name": "j"}]))


def test_dumped_configs_are_redacted() -> None:
    text = dump_yaml(
        {"rewards": [{"type": "openai", "options": {"api_key": "sk-secret", "max_tokens": 300, "auth_token": "t"}}]}
    )
    assert "sk-secret" not in text and REDACTED in text and "max_tokens: 300" in text and ": t\n" not in text
