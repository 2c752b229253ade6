"""One registry for every kind: suites and metrics register through the same path as rewards (same checks,
override rule, F2G_PREFER, provenance), and every hook is called through pluggy, one plugin at a time, so hook
wrappers and tracing see each call while a broken plugin still breaks nothing else."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from f2g_core.errors import ConfigError
from f2g_core.evaluation import Metric, NamedSuite, SuiteItem
from f2g_core.hookspecs import hookimpl
from f2g_core.interfaces import Reward
from f2g_core.plugins import BUILTIN_PLUGINS, Plugins, load_plugins
from f2g_core.testing import install_fake_distribution


class Lines(NamedSuite):
    name = "lines"

    def items(self) -> Sequence[SuiteItem]:
        return [SuiteItem("a", "a line")]


class Bright(Metric):
    name = "bright"
    dimensions = ("bright",)

    def measure(self, item: SuiteItem, video: np.ndarray) -> dict[str, float | None]:
        return {"bright": float(video.mean())}


class Brighter(Bright):
    """The same metric id from a second plugin."""


class NotAMetric:
    name = "not-a-metric"


def test_suites_and_metrics_are_checked_like_every_component(register_plugin: Callable[..., Plugins]) -> None:
    @hookimpl
    def register_suites(register: Any) -> None:
        register(Lines, aliases=("lines-v1",))

    @hookimpl
    def register_metrics(register: Any) -> None:
        register(Bright)
        register(NotAMetric)

    plugin = types.SimpleNamespace(register_suites=register_suites, register_metrics=register_metrics)
    with pytest.warns(UserWarning, match="registered .*NotAMetric.* as a metric, but it is not a Metric subclass"):
        plugins = register_plugin(plugin, "evalparts")
    registry = plugins.registry
    assert registry.get("suite", "lines-v1").cls is Lines and registry.names("suite") == ["lines"]
    assert registry.get("metric", "bright").provenance() == {
        "type": "bright",
        "plugin": "evalparts",
        "distribution": None,
        "version": None,
    }
    assert "not-a-metric" not in registry.entries["metric"]
    info = plugins.info("evalparts")
    assert info is not None and {"suite:lines", "metric:bright"} <= set(info.components)
    with pytest.raises(ConfigError, match=r"unknown metric 'brigth'\. Did you mean 'bright'\?"):
        registry.get("metric", "brigth")


def test_a_taken_metric_name_follows_the_override_rule() -> None:
    def plugin(cls: type, override: bool) -> types.SimpleNamespace:
        @hookimpl
        def register_metrics(register: Any) -> None:
            register(cls, override=override)

        return types.SimpleNamespace(register_metrics=register_metrics)

    with pytest.warns(UserWarning, match="duplicate metric id 'bright'"):
        kept = load_plugins(
            extra=[("a", plugin(Bright, False)), ("b", plugin(Brighter, False))], entry_point_group=None
        )
    assert kept.registry.get("metric", "bright").cls is Bright
    with pytest.warns(UserWarning, match="overrides metric 'bright' of plugin 'a'"):
        replaced = load_plugins(
            extra=[("a", plugin(Bright, False)), ("b", plugin(Brighter, True))], entry_point_group=None
        )
    assert replaced.registry.get("metric", "bright").cls is Brighter


class Recorder:
    """A plugin whose hook wrappers record every call of the registration hooks and of describe_result."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl(wrapper=True)
    def register_rewards(self, register: Any) -> Any:
        self.calls.append("register_rewards")
        return (yield)

    @hookimpl(wrapper=True)
    def describe_result(self, prompt: str, video: Any, config: Any) -> Any:
        self.calls.append(f"describe_result {prompt}")
        return (yield)


class Dark(Reward):
    name = "dark"

    def score(self, batch: Any) -> list[float]:
        return [0.0] * len(batch)


def test_hooks_run_through_pluggy_so_wrappers_see_every_plugin_and_a_broken_one_stays_alone() -> None:
    recorder = Recorder()

    @hookimpl
    def register_rewards(register: Any) -> None:
        register(Dark)

    @hookimpl
    def broken_rewards(register: Any) -> None:
        raise RuntimeError("boom")

    @hookimpl
    def describe_result(prompt: str) -> str:
        return f"fine: {prompt}"

    @hookimpl
    def broken_describe(prompt: str) -> str:
        raise RuntimeError("no verdict")

    good = types.SimpleNamespace(register_rewards=register_rewards, describe_result=describe_result)
    broken = types.SimpleNamespace(register_rewards=broken_rewards, describe_result=broken_describe)
    with pytest.warns(UserWarning, match="'broken'.*RuntimeError: boom"):
        plugins = load_plugins(
            extra=[("recorder", recorder), ("broken", broken), ("good", good)], entry_point_group=None
        )
    assert plugins.registry.get("reward", "dark").cls is Dark  # the broken plugin did not stop the good one
    builtin = [m for m in BUILTIN_PLUGINS if hasattr(importlib.import_module(m), "register_rewards")]
    # once per plugin implementing it: the built-ins (f2g-core's remote reward), the broken one and the good one
    assert recorder.calls == ["register_rewards"] * (len(builtin) + 2)
    recorder.calls.clear()
    with pytest.warns(UserWarning, match="f2g plugin 'broken'.*describe_result failed and is skipped.*no verdict"):
        answers = plugins.call_each("describe_result", prompt="p", video=None, config=None)
    assert [(info.name, answer) for info, answer in answers] == [("good", "fine: p")]
    assert recorder.calls == ["describe_result p", "describe_result p"]


def test_f2g_trace_plugins_prints_every_hook_call(tmp_path: Path) -> None:
    (tmp_path / "traced_plugin.py").write_text(
        "from f2g_core.hookspecs import hookimpl\n\n\n@hookimpl\ndef describe_result(prompt):\n"
        "    return 'seen ' + prompt\n"
    )
    install_fake_distribution(tmp_path, "traced-plugin", "0.1", "traced = traced_plugin")
    code = (
        "from f2g_core.plugins import load_plugins\n"
        "plugins = load_plugins()\n"
        "print(plugins.call_each('describe_result', prompt='p', video=None, config=None)[0][1])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "F2G_LOAD_PLUGINS": "traced"}
    for trace in ("1", ""):
        done = subprocess.run(
            [sys.executable, "-c", code], env={**env, "F2G_TRACE_PLUGINS": trace}, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "seen p"
        traced = [line for line in done.stderr.splitlines() if "[hook]" in line]
        if trace:
            assert any("register_samplers" in line for line in traced), done.stderr
            assert any("describe_result" in line for line in traced), done.stderr
            assert "finish describe_result --> ['seen p']" in done.stderr
        else:
            assert not traced
