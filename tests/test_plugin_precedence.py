"""Plugin precedence as installed distributions meet it: built-ins win, a clash between installed distributions is
settled only by the user's F2G_PREFER (never by a package name) and is otherwise an error naming both, every plugin
problem is reported, hints are truthful, and provenance reaches `f2g plugins`, `f2g list` and trace.json."""

import importlib.util
import json
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from f2g_core.errors import ConfigError, PluginError
from f2g_core.plugins import load_plugins
from f2g_core.testing import install_fake_distribution

F2G = Callable[..., subprocess.CompletedProcess[str]]
"""``f2g_in_process`` (tests/conftest.py): the command run in this process."""

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
def site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forget_modules_under: Callable[[list[str]], None]
) -> Iterator[Path]:
    """A folder on ``sys.path`` for fake distributions. Their modules have the same names from test to test
    (``fake_evil_clip``) with other contents, so none imported by an earlier test may stay in ``sys.modules``: a
    plugin import would return that module instead of this test's (a clean-clone run failed so)."""
    every_tests_folder = [str(tmp_path.parent.parent)]
    forget_modules_under(every_tests_folder)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("F2G_STRICT_PLUGINS", raising=False)
    yield tmp_path
    forget_modules_under(every_tests_folder)


def test_no_package_name_wins_a_clash_between_installed_distributions(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(site, "f2g-plugin-fakeclip", "zzclip", {"fake-clip": 1.0, "fake-clip-judge": 1.0})
    install(site, "evil-clip", "aaclip", {"fake-clip": 0.0, "evil-only": 0.0})
    monkeypatch.setenv("F2G_LOAD_PLUGINS", "zzclip,aaclip")
    monkeypatch.delenv("F2G_PREFER", raising=False)
    with pytest.warns(UserWarning, match="reward id 'fake-clip' is registered by 2 installed distributions"):
        plugins = load_plugins()
    with pytest.raises(ConfigError) as clash:
        plugins.registry.get("reward", "fake-clip", "rewards[0].type")
    message = str(clash.value)
    assert "f2g-plugin-fakeclip" in message and "evil-clip" in message
    assert "F2G_PREFER=fake-clip=" in message
    assert plugins.registry.get("reward", "fake-clip-judge").plugin == "zzclip"  # the rest of each plugin loads
    assert plugins.registry.get("reward", "evil-only").plugin == "aaclip"
    infos = {info.name: info for info in plugins.infos}
    assert "reward:fake-clip" not in infos["zzclip"].components + infos["aaclip"].components


@pytest.mark.parametrize("chosen", ["evil-clip", "F2G_Plugin.FakeClip"])
def test_f2g_prefer_settles_a_clash_either_way(site: Path, monkeypatch: pytest.MonkeyPatch, chosen: str) -> None:
    install(site, "f2g-plugin-fakeclip", "zzclip", {"fake-clip": 1.0})
    install(site, "evil-clip", "aaclip", {"fake-clip": 0.0})
    monkeypatch.setenv("F2G_LOAD_PLUGINS", "zzclip,aaclip")
    monkeypatch.setenv("F2G_PREFER", f"other=x, fake-clip={chosen}")
    plugins = load_plugins()
    expected = "evil-clip" if chosen == "evil-clip" else "f2g-plugin-fakeclip"
    assert plugins.registry.get("reward", "fake-clip").distribution == expected
    monkeypatch.delenv("F2G_PREFER")
    assert load_plugins(prefer={"fake-clip": "evil-clip"}).registry.get("reward", "fake-clip").plugin == "aaclip"


def test_a_malformed_f2g_prefer_is_a_config_error(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("F2G_PREFER", "fake-clip")
    with pytest.raises(ConfigError, match="F2G_PREFER='fake-clip': write ID=DISTRIBUTION"):
        load_plugins()


def test_built_in_components_always_win(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (site / "fake_squatter.py").write_text(
        textwrap.dedent(
            """
            from f2g_core.default_plugins.combiners import WeightedSum
            from f2g_core.hookspecs import hookimpl

            class Squatter(WeightedSum):
                \"\"\"Claims the built-in id.\"\"\"

            @hookimpl
            def register_combiners(register):
                register(Squatter, override=True)
            """
        )
    )
    install_fake_distribution(site, "f2g-plugin-squatter", "1.0", "squatter = fake_squatter")
    monkeypatch.setenv("F2G_LOAD_PLUGINS", "squatter")
    monkeypatch.setenv("F2G_PREFER", "weighted-sum=f2g-plugin-squatter")
    with pytest.warns(UserWarning, match="'weighted-sum' is a built-in of f2g-core, which always wins"):
        plugins = load_plugins()
    assert plugins.registry.get("combiner", "weighted-sum").distribution == "f2g-core"


def test_two_distributions_with_one_entry_point_name_both_load_and_clash(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(site, "f2g-plugin-twin", "world", {"twin-judge": 1.0})
    install(site, "aaa-twin", "world", {"twin-judge": 0.0})
    monkeypatch.setenv("F2G_LOAD_PLUGINS", "world")
    with pytest.warns(UserWarning, match="'twin-judge' is registered by 2 installed distributions"):
        plugins = load_plugins()
    assert all(info.ok for info in plugins.infos)
    monkeypatch.setenv("F2G_PREFER", "twin-judge=f2g-plugin-twin")
    assert load_plugins().registry.get("reward", "twin-judge").distribution == "f2g-plugin-twin"


def test_strict_mode_makes_a_clash_fatal(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(site, "f2g-plugin-fakeclip", "zzclip", {"fake-clip": 1.0})
    install(site, "evil-clip", "aaclip", {"fake-clip": 0.0})
    monkeypatch.setenv("F2G_LOAD_PLUGINS", "zzclip,aaclip")
    monkeypatch.setenv("F2G_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="reward id 'fake-clip' is registered by 2 installed distributions"):
        load_plugins()


def test_default_run_config_is_never_chosen_by_a_package_name(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(site, "f2g-plugin-defaults", "zworld", {"w": 1.0}, defaults={"backbone": {"type": "first-party"}})
    install(site, "other-world", "aworld", {"o": 1.0}, defaults={"backbone": {"type": "third-party"}})
    install(site, "quiet-world", "bworld", {"q": 1.0})
    monkeypatch.setenv("F2G_LOAD_PLUGINS", "zworld,aworld,bworld")
    with pytest.raises(ConfigError, match="default run configuration 'default_run_config' is registered by 2") as clash:
        load_plugins().default_run_config()
    assert "other-world" in str(clash.value) and "f2g-plugin-defaults" in str(clash.value)
    monkeypatch.setenv("F2G_PREFER", "default_run_config=other-world")
    assert load_plugins().default_run_config() == {"backbone": {"type": "third-party"}}
    monkeypatch.setenv("F2G_LOAD_PLUGINS", "aworld,bworld")
    monkeypatch.delenv("F2G_PREFER")
    assert load_plugins().default_run_config() == {"backbone": {"type": "third-party"}}


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


def _env(site: Path, plugins: str | None) -> dict[str, str | None]:
    return {"PYTHONPATH": str(site), "F2G_LOAD_PLUGINS": plugins, "COLUMNS": "250"}


def test_f2g_plugins_and_list_say_which_distribution_provided_each_component(site: Path, f2g_in_process: F2G) -> None:
    install(site, "f2g-plugin-fakeclip", "zzclip", {"fake-clip": 1.0})
    install(site, "evil-clip", "aaclip", {"fake-clip": 0.0, "evil-only": 0.0})
    env = {**_env(site, "zzclip,aaclip"), "F2G_PREFER": "fake-clip=f2g-plugin-fakeclip"}
    shown = f2g_in_process("plugins", env=env)
    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if "aaclip" in line)
    assert "evil-clip" in row and "reward:evil-only" in row and "skipped" in row
    listed = f2g_in_process("list", "rewards", "--json", env=env)
    by_name = {entry["name"]: entry for entry in json.loads(listed.stdout)}
    assert by_name["fake-clip"]["distribution"] == "f2g-plugin-fakeclip"
    assert by_name["evil-only"]["distribution"] == "evil-clip"


def test_trace_json_records_where_each_component_came_from(site: Path, f2g_in_process: F2G) -> None:
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
    done = f2g_in_process(
        "generate", "x", "--backbone", "gaussian-mixture", "-r", "fake-clip", *flags, env=_env(site, "zzclip,gmm")
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
def test_an_impostor_named_like_the_project_never_silently_replaces_shapes_judge(
    site: Path, f2g_in_process: F2G
) -> None:
    install(site, "f2g-plugin-aaa-impostor", "aaa", {"shapes-judge": 0.0})
    env = {**_env(site, None), "F2G_PREFER": None}
    command = [
        "generate",
        "a red circle moving left",
        "--no-save",
        "--steps",
        "6",
        "--method",
        "free2guide",
        "--guided-steps",
        "2",
    ]
    clash = f2g_in_process(*command, "-n", "2", env=env)
    assert clash.returncode == 2, clash.stderr
    assert "f2g-plugin-aaa-impostor" in clash.stderr and "f2g-plugin-shapes" in clash.stderr
    assert "F2G_PREFER=shapes-judge=" in clash.stderr and "Traceback" not in clash.stderr
    env["F2G_PREFER"] = "shapes-judge=f2g-plugin-shapes"
    chosen = f2g_in_process(*command, "-n", "2", env=env)
    assert chosen.returncode == 0, chosen.stderr
    assert "free2guide" in chosen.stdout and "shapes-judge" not in chosen.stderr


METRIC = """
from f2g_core import Metric, hookimpl


class Twin(Metric):
    name = "{name}"
    origin = "{origin}"


@hookimpl
def register_metrics(register):
    register(Twin)
"""


@pytest.mark.parametrize("name", ["twin-metric", "shapes"])
def test_eval_metric_names_follow_the_same_rule(site: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    for distribution, entry in (("f2g-plugin-aaa-impostor", "aaa"), ("honest-metrics", "zzz")):
        module = f"metric_{entry}_{name.replace('-', '_')}"
        (site / f"{module}.py").write_text(METRIC.replace("{name}", name).replace("{origin}", distribution))
        install_fake_distribution(site, distribution, "1.0", f"{entry} = {module}")
    wanted = "aaa,zzz" + (",shapes" if name == "shapes" else "")
    if name == "shapes" and importlib.util.find_spec("f2g_plugin_shapes") is None:
        pytest.skip("needs f2g-plugin-shapes")
    monkeypatch.setenv("F2G_LOAD_PLUGINS", wanted)
    with pytest.warns(UserWarning, match=f"metric id '{name}' is registered by"):
        registry = load_plugins().registry
    with pytest.raises(ConfigError) as clash:
        registry.get("metric", name)
    assert "f2g-plugin-aaa-impostor" in str(clash.value) and "honest-metrics" in str(clash.value)
    assert f"F2G_PREFER={name}=" in str(clash.value)
    monkeypatch.setenv("F2G_PREFER", f"{name}=honest-metrics")
    entry = load_plugins().registry.get("metric", name)
    assert entry.cls.origin == "honest-metrics" and entry.distribution == "honest-metrics"  # type: ignore[attr-defined]
