"""Every example runs, with local stand-ins: the shapes world, tiny random models, a local OpenAI server."""

from __future__ import annotations

import ast
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from f2g_core.config import load_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
F2G = [sys.executable, "-c", "from f2g_core.cli import main; main()"]


def _run(*command: str | Path, env: dict[str, str] | None = None, cwd: Path = ROOT) -> str:
    done = subprocess.run(
        [str(c) for c in command],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture
def shapes() -> None:
    pytest.importorskip("f2g_plugin_shapes", reason="the example runs on the shapes world")


def test_python_api(shapes: None, tmp_path: Path) -> None:
    out = _run(sys.executable, EXAMPLES / "python_api.py", "--steps", "8", "--out", tmp_path)
    assert out.count("kept candidate") == 6 and "model calls" in out
    assert len(list(tmp_path.glob("*/trace.json"))) == 1


def test_yaml_and_toml_are_the_same_run(shapes: None, tmp_path: Path) -> None:
    yaml_config, toml_config = EXAMPLES / "shapes_guided.yaml", EXAMPLES / "shapes_guided.toml"
    assert load_config(yaml_config) == load_config(toml_config)
    chosen = []
    for config in (yaml_config, toml_config):
        out = tmp_path / config.suffix.lstrip(".")
        _run(
            *F2G,
            "run",
            config,
            "--set",
            "sampler.num_steps=8",
            "--set",
            f"output.dir={out}",
            "--set",
            "output.formats=[gif]",
        )
        trace = json.loads(next(out.glob("*/trace.json")).read_text())
        chosen.append([step["chosen"] for step in trace["steps"] if step["guided"]])
    assert chosen[0] == chosen[1] and len(chosen[0]) == 6


def test_ensemble_with_each_combiner(shapes: None) -> None:
    out = _run(sys.executable, EXAMPLES / "ensemble_combiners.py", "--steps", "8")
    for combiner in ("weighted-sum", "normalized-sum", "consensus"):
        assert f"{combiner} " in out and "shapes evaluator" in out


def test_diffusers_backbone_guided_by_an_lvlm() -> None:
    pytest.importorskip("f2g_plugin_diffusers")
    pytest.importorskip("f2g_plugin_openai")
    out = _run(sys.executable, EXAMPLES / "diffusers_tiny_lvlm.py", "--steps", "4", "--n", "2")
    assert "4 LVLM calls, 4 requests served" in out
    assert out.count("ratings") == 2


def test_custom_combiner_and_sampler_inline(shapes: None) -> None:
    out = _run(sys.executable, EXAMPLES / "custom_components.py", "--steps", "8")
    kept = {line.rsplit(" kept ", 1)[0]: ast.literal_eval(line.rsplit(" kept ", 1)[1]) for line in out.splitlines()}
    free2guide = kept["geometric-mean"]
    assert len(free2guide) == 4 and any(free2guide), out  # guidance left the plain transition somewhere
    assert kept["keep-if-better margin=0"] == free2guide  # with no margin it is Free²Guide's argmax
    assert kept["keep-if-better margin=1e+09"] == [0, 0, 0, 0]  # nothing beats the plain transition by that


def test_eval_on_a_small_suite(shapes: None, tmp_path: Path) -> None:
    eval_dir = EXAMPLES / "eval"
    _run(
        *F2G,
        "eval",
        eval_dir / "prompts.txt",
        "-c",
        eval_dir / "unguided.yaml",
        "-c",
        eval_dir / "guided.yaml",
        "--seeds",
        "0-1",
        "--out",
        tmp_path,
    )
    with (tmp_path / "results.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    prompts = (eval_dir / "prompts.txt").read_text().split("\n")
    jobs = {(p, s, c) for p in prompts if p for s in ("0", "1") for c in ("unguided", "guided")}
    assert sorted((r["prompt"], r["seed"], r["config"]) for r in rows) == sorted(jobs)  # one row per job
    calls = {r["config"]: int(r["model_calls"]) for r in rows}
    assert calls == {"unguided": 20, "guided": 20 + 6 * (5 - 1)}  # T, and T + G·(n − 1) for Free²Guide


def test_tutorial_plugin_installs_and_passes_its_tests(tmp_path: Path) -> None:
    """The package the tutorial builds (and includes its code from) installs, registers and passes its tests."""
    pytest.importorskip("openai")
    package = EXAMPLES / "f2g-contrib-sharpness"
    site = tmp_path / "site"
    _run(sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", site, package)
    env = {"PYTHONPATH": str(site), "F2G_STRICT_PLUGINS": "1", "COLUMNS": "250"}
    out = _run(
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        f"cache_dir={tmp_path}",
        env=env,
        cwd=package,
    )
    assert " passed" in out and "skipped" not in out and "failed" not in out
    listing = _run(*F2G, "plugins", env=env, cwd=tmp_path)
    row = next(line for line in listing.splitlines() if "f2g-contrib-sharpness" in line)
    assert "ok" in row and "reward:sharpness" in row


def test_every_example_is_on_the_examples_page() -> None:
    page = (ROOT / "docs" / "examples.md").read_text()
    for path in EXAMPLES.iterdir():
        if path.name != "__pycache__":
            assert f"examples/{path.name}" in page, f"docs/examples.md does not mention examples/{path.name}"
