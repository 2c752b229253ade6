"""The hook specifications of f2g: everything a plugin can implement.

A plugin is a module (or object) exposed under the ``f2g`` entry-point group whose functions are marked with
:data:`hookimpl`. Hooks receive a ``register`` callback and hand it *classes*, never instances: the core builds
components from configuration and calls their ``load()`` lazily, so listing plugins never loads a model.

Every hook argument is opt-in (pluggy passes only the arguments an implementation names), so new arguments can
be added to these specs without breaking existing plugins. f2g calls every hook through pluggy one plugin at a
time (:func:`f2g_core.plugins.call_plugin`), so hook wrappers and ``F2G_TRACE_PLUGINS=1`` see each call and a
plugin that raises never stops another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pluggy

PROJECT_NAME = "f2g"
"""The pluggy project name, which is also the entry-point group plugins register under."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

Register = Callable[..., None]
"""``register(cls, aliases=())``: add one component class (and optional alternative ids) to the registry."""


@hookspec
def register_rewards(register: Register) -> None:
    """Register :class:`f2g_core.interfaces.Reward` / ``AsyncReward`` subclasses.

    Call ``register(MyReward)`` or ``register(MyReward, aliases=("my-alias",))`` once per class.
    """


@hookspec
def register_combiners(register: Register) -> None:
    """Register :class:`f2g_core.interfaces.Combiner` subclasses (how several rewards become one score)."""


@hookspec
def register_backbones(register: Register) -> None:
    """Register :class:`f2g_core.interfaces.Backbone` subclasses (text-to-video models the loop can drive)."""


@hookspec
def register_samplers(register: Register) -> None:
    """Register :class:`f2g_core.population.Sampler` subclasses (search methods: ``guidance.method``).

    The built-ins (``none``, ``free2guide``, ``best-of-n``, ``smc``, ``beam``) register through this hook too;
    see docs/samplers.md for writing one.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add commands to the ``f2g`` command line: ``cli`` is a :class:`typer.Typer`; call ``cli.command()(function)``
    or ``cli.add_typer(group, name=...)``.

    f2g-core's own commands (``generate``, ``run``, ``plugins``, ``list``, ``keys``, ``plugin``) are added this way
    by its built-in plugin, first, and ``f2g eval`` by the f2g-eval distribution. A name taken by an earlier plugin
    (or f2g-core) is kept by it, and the newcomer is skipped with a warning; a plugin whose hook raises is skipped
    with one warning line naming it, so it never breaks the command line or another plugin.
    """


@hookspec(firstresult=True)
def default_run_config() -> Mapping[str, Any] | None:
    """Return a partial run configuration used when the user gives none (``f2g generate PROMPT``).

    The embedded default world uses this to make a fresh install generate something useful with no flags. When
    plugins of several installed distributions return defaults, the user chooses one with
    ``F2G_PREFER=default_run_config=DISTRIBUTION`` (:meth:`f2g_core.plugins.Plugins.default_run_config`); no package
    name decides.
    """


@hookspec
def describe_result(prompt: str, video: Any, config: Any) -> str | None:
    """Return a short human-readable verdict on a finished video, or ``None`` when the plugin has nothing to say.

    ``video`` is a float array (frames, height, width, 3) in [0, 1]; ``config`` is the resolved
    :class:`f2g_core.config.RunConfig`. The CLI prints every non-empty answer after a run.
    """


@hookspec
def register_suites(register: Register) -> None:
    """Register :class:`f2g_core.evaluation.NamedSuite` subclasses: prompt suites ``f2g eval NAME`` can run.

    ``register(cls, aliases=(), override=False)`` as for rewards: the same registry, checks and precedence rule.

    A suite's ``name`` is what users pass instead of a file (``f2g eval shapes-benchmark``); its ``Options`` are
    set on the command line as ``NAME:key=value,key=value``.
    """


@hookspec
def register_metrics(register: Register) -> None:
    """Register :class:`f2g_core.evaluation.Metric` subclasses: scorers of finished videos for ``f2g eval``.

    ``register(cls, aliases=(), override=False)`` as for rewards: the same registry, checks and precedence rule.

    A metric reports one or more named dimensions per video (``--metric NAME``). Every registered reward can also
    serve as a one-dimension metric without registering anything.
    """
