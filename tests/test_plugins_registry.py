"""Plugin loading isolation, selection by environment, duplicate ids, and registry errors."""

import textwrap
import types
from pathlib import Path

import pytest

from f2g_core.errors import ConfigError, PluginError
from f2g_core.hookspecs import hookimpl
from f2g_core.interfaces import Reward, RewardBatch
from f2g_core.plugins import load_plugins
from f2g_core.registry import Registry
from f2g_core.testing import install_fake_distribution


class EchoReward(Reward):
    """Scores every candidate with a constant."""

    name = "echo"

    class Options(Reward.Options):
        value: float = 1.0

    def score(self, batch: RewardBatch) -> list[float]:
        return [self.options.value] * len(batch)


def _plugin(*classes: type, aliases: tuple[str, ...] = ()) -> types.SimpleNamespace:
    @hookimpl
    def register_rewards(register):  # type: ignore[no-untyped-def]
        for cls in classes:
            register(cls, aliases=aliases)

    return types.SimpleNamespace(register_rewards=register_rewards)


def test_register_plugin_fixture_registers_components(register_plugin) -> None:  # type: ignore[no-untyped-def]
    plugins = register_plugin(_plugin(EchoReward, aliases=("constant",)))
    entry = plugins.registry.get("reward", "constant")
    assert entry.cls is EchoReward and entry.plugin == "test-plugin"
    reward = plugins.registry.build("reward", "echo", {"value": 3}, "rewards[0]")
    assert reward.options.value == 3.0


def test_a_duplicate_id_skips_only_the_clashing_component() -> None:
    class Other(EchoReward):
        """Same id, different class."""

    class Extra(EchoReward):
        name = "extra"

    with pytest.warns(UserWarning, match="duplicate reward id 'echo'"):
        plugins = load_plugins(
            extra=[("first", _plugin(EchoReward)), ("second", _plugin(Other, Extra))], entry_point_group=None
        )
    infos = {info.name: info for info in plugins.infos}
    assert infos["second"].ok and infos["second"].components == ["reward:extra"]
    assert "'first'" in infos["second"].skipped[0] and "'second'" in infos["second"].skipped[0]
    assert plugins.registry.get("reward", "echo").cls is EchoReward
    assert plugins.registry.get("reward", "extra").cls is Extra


def test_an_explicit_override_replaces_and_is_logged() -> None:
    class Better(EchoReward):
        """Replaces echo on purpose."""

    @hookimpl
    def register_rewards(register):  # type: ignore[no-untyped-def]
        register(Better, override=True)

    better = types.SimpleNamespace(register_rewards=register_rewards)
    with pytest.warns(UserWarning, match="overrides reward 'echo' of plugin 'first'"):
        plugins = load_plugins(
            extra=[("first", _plugin(EchoReward)), ("better", better)],
            entry_point_group=None,
        )
    assert plugins.registry.get("reward", "echo").cls is Better


def test_a_plugin_whose_hook_raises_registers_nothing_and_others_still_load() -> None:
    class Good(EchoReward):
        name = "good"

    @hookimpl
    def register_rewards(register):  # type: ignore[no-untyped-def]
        register(EchoReward)
        raise RuntimeError("boom")

    broken = types.SimpleNamespace(register_rewards=register_rewards)
    with pytest.warns(UserWarning, match="boom"):
        plugins = load_plugins(extra=[("broken", broken), ("good", _plugin(Good))], entry_point_group=None)
    assert plugins.registry.names("reward") == ["good", "remote"]  # remote: the core's built-in reward


def test_misspelled_hook_is_reported() -> None:
    @hookimpl
    def register_reward(register):  # type: ignore[no-untyped-def]  # missing "s"
        pass

    with pytest.warns(UserWarning, match="register_reward"):
        plugins = load_plugins(
            extra=[("typo", types.SimpleNamespace(register_reward=register_reward))], entry_point_group=None
        )
    assert plugins.failures[0].name == "typo"


def test_strict_mode_makes_failures_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("F2G_STRICT_PLUGINS", "1")

    @hookimpl
    def register_rewards(register):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    with pytest.raises(PluginError, match="boom"):
        load_plugins(
            extra=[("broken", types.SimpleNamespace(register_rewards=register_rewards))], entry_point_group=None
        )


def test_registering_a_non_component_is_rejected() -> None:
    with pytest.raises(PluginError, match="not a Reward subclass"):
        Registry().add("reward", dict, plugin="x")


def test_entry_points_load_one_at_a_time_and_env_selects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fake_good_plugin.py").write_text(
        textwrap.dedent(
            """
            from f2g_core.hookspecs import hookimpl
            from f2g_core.interfaces import Reward

            class Constant(Reward):
                name = "fake-constant"

                def score(self, batch):
                    return [0.0] * len(batch)

            @hookimpl
            def register_rewards(register):
                register(Constant)
            """
        )
    )
    install_fake_distribution(tmp_path, "fake-good", "0.3", "good = fake_good_plugin")
    install_fake_distribution(tmp_path, "fake-broken", "0.3", "broken = module_that_does_not_exist")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("F2G_LOAD_PLUGINS", "good,broken")
    with pytest.warns(UserWarning, match="broken"):
        plugins = load_plugins()
    infos = {info.name: info for info in plugins.infos}
    assert infos["good"].ok and infos["good"].distribution == "fake-good" and infos["good"].version == "0.3"
    assert not infos["broken"].ok and "module_that_does_not_exist" in (infos["broken"].error or "")
    assert "fake-constant" in plugins.registry.names("reward")
    monkeypatch.setenv("F2G_LOAD_PLUGINS", "")
    assert [i.name for i in load_plugins().infos if not i.builtin] == []
    monkeypatch.setenv("F2G_LOAD_PLUGINS", "good")
    assert [i.name for i in load_plugins().infos if not i.builtin] == ["good"]


def test_unknown_component_lists_close_matches_and_the_package(f2g_registry: Registry) -> None:
    with pytest.raises(ConfigError) as info:
        f2g_registry.get("combiner", "weighted-summ", "combiner.type")
    assert "combiner.type" in str(info.value) and "'weighted-sum'" in str(info.value)
    with pytest.raises(ConfigError, match="No installed plugin provides it") as missing:
        f2g_registry.get("reward", "clip", "rewards[0].type")
    assert "pip install" not in str(missing.value)


def test_the_unknown_id_message_points_to_docs_that_name_the_package(f2g_registry: Registry) -> None:
    """docs/troubleshooting.md promised a `pip install f2g-plugin-clip` hint the message never gave: the message
    names a page, and that page (and the troubleshooting entry) must really lead to the package."""
    import re
    from pathlib import Path

    with pytest.raises(ConfigError) as missing:
        f2g_registry.get("reward", "clip", "rewards[0].type")
    (page,) = re.findall(r"docs/[\w-]+\.md", str(missing.value))
    root = Path(__file__).resolve().parents[1]
    assert "`f2g-plugin-clip`" in (root / page).read_text()
    entry = (root / "docs" / "troubleshooting.md").read_text().split("**`unknown reward 'clip'`**")[1].split("\n\n")[0]
    assert Path(page).name in entry and "pip install f2g-plugin-clip" in entry


def test_options_errors_carry_the_config_path(f2g_registry: Registry) -> None:
    with pytest.raises(ConfigError) as info:
        f2g_registry.build("reward", "mode-distance", {"target": "up", "detail": 1}, "rewards[1]")
    message = str(info.value)
    assert "rewards[1].options.target" in message and "rewards[1].options.detail: unknown key" in message
