"""Plugin precedence as installed distributions meet it: first-party ids win, clashes skip one component, every
plugin problem is reported, hints are truthful, and provenance reaches `f2g plugins`, `f2g list` and trace.json."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from f2g_core.errors import ConfigError, PluginError
from f2g_core.plugins import is_first_party, load_plugins
from f2g_core.testing import install_fake_distribution

F2G = [sys.executable, "-c", "from f2g_core.cli import main; main()"]

MODULE = textwrap.dedent(
    """
    from f2g_core.hookspecs import hookimpl
    from f2g_core.interfaces import Reward

    def _reward(id_, value):
        body = dict(__doc__="Scores a constant.", name=id_, score=lambda self, batch: [value] * len(batch))
        return type(id_.replace("-", "_"), (Reward,), body)

    REWARDS = [_reward(id_, value) for id_, value in {rewards!r}.items()]

    @hookimpl
    def register_rewards(register):
        for cls in REWARDS:
            register(cls)

    @hookimpl
    def default_run_config():
        return {defaults!r}
    """
)


def install(root: Path, distribution: str, entry: str, rewards: dict[str, float], defaults: object = None) -> None:
    """A fake installed distribution with one f2g entry point registering constant rewards."""
    module = f"fake_{distribution.replace('-', '_')}"
    (root / f"{module}.py").write_text(
        MODULE.replace("{rewards!r}", repr(rewards)).replace("{defaults!r}", repr(defaults))
    )
    install_fake_distribution(root, distribution, "0.7", f"{entry} = {module}")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("F2G_STRICT_PLUGINS", raising=False)
    return tmp_path


def test_first_party_is_known_by_distribution_name() -> None:
    assert is_first_party("f2g-core") and is_first_party("f2g-plugin-clip") and is_first_party("F2G_Plugin_X")
    assert not is_first_party("aaclip") and not is_first_party("f2gplugin-clip") and not is_first_party(None)


def test_a_third_party_plugin_cannot_replace_or_disable_a_first_party_one(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(site, "f2g-plugin-fakeclip", "zzclip", {"fake-clip": 1.0, "fake-clip-judge": 1.0})
    install(site, "evil-clip", "aaclip", {"fake-clip": 0.0, "evil-only": 0.0})
    monkeypatch.setenv("F2G_LOAD_PLUGINS", "zzclip,aaclip")
    with pytest.warns(UserWarning, match="duplicate reward id 'fake-clip'"):
        plugins = load_plugins()
    entry = plugins.registry.get("reward", "fake-clip")
    assert entry.distribution == "f2g-plugin-fakeclip" and entry.version == "0.7"
    assert plugins.registry.get("reward", "fake-clip-judge").plugin == "zzclip"  # the first-party plugin is whole
    infos = {info.name: info for info in plugins.infos}
    assert infos["aaclip"].ok and infos["aaclip"].components == ["reward:evil-only"]
    assert "fake-clip" in infos["aaclip"].skipped[0] and "f2g-plugin-fakeclip" in infos["aaclip"].skipped[0]


def test_strict_mode_makes_a_clash_fatal(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(site, "f2g-plugin-fakeclip", "zzclip", {"fake-clip": 1.0})
    install(site, "evil-clip", "aaclip", {"fake-clip": 0.0})
    monkeypatch.setenv("F2G_LOAD_PLUGINS", "zzclip,aaclip")
    monkeypatch.setenv("F2G_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="duplicate reward id 'fake-clip'"):
        load_plugins()


def test_default_run_config_comes_from_the_first_plugin_in_load_order(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(site, "f2g-plugin-world", "zworld", {"w": 1.0}, defaults={"backbone": {"type": "first-party"}})
    install(site, "other-world", "aworld", {"o": 1.0}, defaults={"backbone": {"type": "third-party"}})
    monkeypatch.setenv("F2G_LOAD_PLUGINS", "zworld,aworld")
    assert load_plugins().default_run_config() == {"backbone": {"type": "first-party"}}


def test_a_plugin_that_registers_nothing_warns_and_names_the_missing_hookimpl(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (site / "fake_unmarked.py").write_text("def register_rewards(register):\n    pass\n")
    install_fake_distribution(site, "unmarked", "1.0", "unmarked = fake_unmarked")
    monkeypatch.setenv("F2G_LOAD_PLUGINS", "unmarked")
    with pytest.warns(UserWarning, match="registers nothing.*'register_rewards'.*@hookimpl"):
        plugins = load_plugins()
    assert next(info.notes for info in plugins.infos if info.name == "unmarked")
    monkeypatch.setenv("F2G_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="registers nothing"):
        load_plugins()


def test_a_misspelled_hook_suggests_the_right_name() -> None:
    from f2g_core.hookspecs import hookimpl

    @hookimpl
    def register_reward(register):  # type: ignore[no-untyped-def]
        pass

    import types

    with pytest.warns(UserWarning, match="did you mean 'register_rewards' instead of 'register_reward'"):
        load_plugins(extra=[("typo", types.SimpleNamespace(register_reward=register_reward))], entry_point_group=None)


def test_f2g_load_plugins_that_matches_nothing_warns(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(site, "f2g-plugin-world", "world", {"w": 1.0})
    monkeypatch.setenv("F2G_LOAD_PLUGINS", "wrold")
    with pytest.warns(UserWarning, match="'wrold', which matches no installed plugin. Did you mean 'world'"):
        load_plugins()


def test_unknown_ids_say_installed_but_skipped_and_why_instead_of_pip_install(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(site, "f2g-plugin-world", "world", {"world-judge": 1.0})
    (site / "fake_broken_world.py").write_text("raise ImportError('needs libfoo')\n")
    install_fake_distribution(site, "f2g-plugin-brokenworld", "2.0", "brokenworld = fake_broken_world")
    monkeypatch.setenv("F2G_LOAD_PLUGINS", "brokenworld")
    with pytest.warns(UserWarning, match="needs libfoo"):
        registry = load_plugins().registry
    with pytest.raises(ConfigError) as deselected:
        registry.get("reward", "world-judge")
    message = str(deselected.value)
    assert "'world' (f2g-plugin-world 0.7) is installed but not loaded (F2G_LOAD_PLUGINS" in message
    assert "pip install" not in message
    with pytest.raises(ConfigError) as failed:
        registry.get("reward", "anything")
    assert "f2g-plugin-brokenworld 2.0) is installed but failed to load (ImportError: needs libfoo)" in str(
        failed.value
    )


def _env(site: Path, plugins: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(site), "F2G_LOAD_PLUGINS": plugins, "COLUMNS": "250"}


def test_f2g_plugins_and_list_say_which_distribution_provided_each_component(site: Path) -> None:
    install(site, "f2g-plugin-fakeclip", "zzclip", {"fake-clip": 1.0})
    install(site, "evil-clip", "aaclip", {"fake-clip": 0.0, "evil-only": 0.0})
    shown = subprocess.run([*F2G, "plugins"], capture_output=True, text=True, env=_env(site, "zzclip,aaclip"))
    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if "aaclip" in line)
    assert "evil-clip" in row and "reward:evil-only" in row and "skipped" in row
    listed = subprocess.run(
        [*F2G, "list", "rewards", "--json"], capture_output=True, text=True, env=_env(site, "zzclip,aaclip")
    )
    by_name = {entry["name"]: entry for entry in json.loads(listed.stdout)}
    assert by_name["fake-clip"]["distribution"] == "f2g-plugin-fakeclip"
    assert by_name["evil-only"]["distribution"] == "evil-clip"


def test_trace_json_records_where_each_component_came_from(site: Path) -> None:
    install(site, "f2g-plugin-fakeclip", "zzclip", {"fake-clip": 1.0})
    (site / "fake_gmm.py").write_text("from f2g_core.gaussian_mixture import register_backbones  # noqa: F401\n")
    install_fake_distribution(site, "gmm-test", "0.2", "gmm = fake_gmm")
    flags = [
        "--steps",
        "4",
        "-n",
        "2",
        "--guided-steps",
        "1",
        "--out",
        str(site / "runs"),
        "--set",
        "output.formats=[gif]",
    ]
    done = subprocess.run(
        [*F2G, "generate", "x", "--backbone", "gaussian-mixture", "-r", "fake-clip", *flags],
        capture_output=True,
        text=True,
        env=_env(site, "zzclip,gmm"),
    )
    assert done.returncode == 0, done.stderr
    trace = json.loads(next((site / "runs").iterdir()).joinpath("trace.json").read_text())
    assert trace["components"]["rewards"]["fake-clip"]["distribution"] == "f2g-plugin-fakeclip"
    assert trace["components"]["backbone"] == {
        "type": "gaussian-mixture",
        "plugin": "gmm",
        "distribution": "gmm-test",
        "version": "0.2",
    }
    assert trace["components"]["combiner"]["distribution"] == "f2g-core"


@pytest.mark.skipif(importlib.util.find_spec("f2g_plugin_shapes") is None, reason="needs f2g-plugin-shapes")
def test_a_third_party_shapes_judge_leaves_the_shapes_world_working(site: Path) -> None:
    install(site, "shapes-judge-impostor", "aaa", {"shapes-judge": 0.0})
    env = {k: v for k, v in _env(site, "").items() if k != "F2G_LOAD_PLUGINS"}
    done = subprocess.run(
        [*F2G, "generate", "a red circle moving left", "--no-save", "--steps", "6", "--guided-steps", "2", "-n", "2"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "free2guide" in done.stdout and "duplicate reward id 'shapes-judge'" in done.stderr
