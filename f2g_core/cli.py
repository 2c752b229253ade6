"""The ``f2g`` command: generate, run a config, list plugins and components, manage API keys.

Every command reaches the app through the ``register_commands`` hook, the built-in ones too
(:func:`add_builtin_commands`, called by the built-in plugin ``f2g_core.default_plugins.commands``, which loads
first), then those of installed plugins (``f2g eval`` from f2g-eval). A plugin whose hook raises costs one warning
line naming it; the other commands still work.

Outcomes (docs/cli.md): 0 success; 2 usage or configuration error (typer prints usage errors itself, in every
install, so the CLI needs neither click nor typer's vendored copy of it); 1 any other error, as one line, with
``--debug`` (or ``F2G_DEBUG=1``) for the traceback; 130 interrupted (Ctrl-C), after printing "interrupted".
"""

from __future__ import annotations

import json
import os
import sys
import threading
import traceback
import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.core
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from f2g_core import __version__
from f2g_core.config import ConfigSources, GuidanceConfig, RunConfig, read_config_file
from f2g_core.errors import ConfigError, F2GError, UnguidedRun, shorten_values
from f2g_core.scaffold.command import plugin_app
from f2g_core.serving.command import serve_app

if TYPE_CHECKING:  # the pipeline imports torch; --help and listing must not
    from f2g_core.pipeline import Pipeline


class Interrupted(F2GError):
    """Ctrl-C during a command. Raised in place of KeyboardInterrupt, which typer would turn into a silent exit."""

    exit_code = 130


class _Group(typer.core.TyperGroup):
    """The command groups of ``f2g``: a Ctrl-C inside any sub-command surfaces as :class:`Interrupted`."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise Interrupted("interrupted") from None


class _Root(_Group):
    """The ``f2g`` group: its commands are what the ``register_commands`` hook adds, plugin by plugin in load order
    (the built-ins first), resolved when a command is looked up or listed, so ``--help`` and
    ``typer.main.get_command(app)`` see them too. A name taken already stays with its first owner; the newcomer is
    skipped with a warning, as is a plugin whose hook raises."""

    def _plugin_commands(self) -> None:
        if getattr(self, "_plugins_added", False):
            return
        self._plugins_added = True
        from f2g_core.plugins import default_plugins

        plugins = default_plugins()
        for info in _registering_plugins(plugins):
            extra = typer.Typer(cls=_Group)
            if not plugins.call_each("register_commands", only=info.name, cli=extra):
                continue  # it raised: call_each warned, naming it
            try:
                group = typer.main.get_group(extra)
            except Exception as error:  # a command typer cannot build (a bad annotation) is the plugin's
                warnings.warn(
                    f"f2g plugin {info.label}: register_commands failed and is skipped: "
                    f"{type(error).__name__}: {error}",
                    stacklevel=2,
                )
                continue
            for name, command in group.commands.items():
                if name in self.commands:
                    warnings.warn(f"f2g plugin {info.label}: command {name!r} is taken and is skipped", stacklevel=2)
                    continue
                self.add_command(command, name)

    def list_commands(self, ctx: Any) -> list[str]:
        self._plugin_commands()
        return list(super().list_commands(ctx))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        self._plugin_commands()
        return super().get_command(ctx, cmd_name)


def _registering_plugins(plugins: Any) -> list[Any]:
    """The plugins implementing ``register_commands``, in load order (built-ins first)."""
    names = {impl.plugin_name for impl in plugins.manager.hook.register_commands.get_hookimpls()}
    return [info for info in plugins.infos if info.name in names]


app = typer.Typer(
    cls=_Root,
    name="f2g",
    help="Train-free, gradient-free reward guidance (Free²Guide) for text-to-video diffusion models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
list_app = typer.Typer(cls=_Group, help="List registered components.", no_args_is_help=True)
keys_app = typer.Typer(cls=_Group, help="Manage API keys in the local key store (never printed).", no_args_is_help=True)
console = Console(soft_wrap=True)
errors = Console(stderr=True)
_state = {"debug": os.environ.get("F2G_DEBUG", "") not in ("", "0")}


def _version(value: bool) -> None:
    if value:
        console.print(f"f2g-core {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    if debug:
        _state["debug"] = True


# ------------------------------------------------------------------------------------------------- running


def _plugin_defaults() -> dict[str, Any]:
    from f2g_core.plugins import default_plugins

    return default_plugins().default_run_config()


BATCH_VIDEOS = 8
"""``--prompts``/``--seeds`` make videos in batches of up to this many, each reported and saved when it is done."""
MAX_VIDEOS = 10_000
"""The most videos one ``f2g generate`` makes (prompts × seeds); more is almost surely a typo in ``--seeds``."""


def _run(
    config: RunConfig,
    sources: ConfigSources,
    save: bool,
    out: Path | None,
    allow_unguided: bool,
    many: tuple[list[str], list[int]] | None = None,
) -> None:
    """Generate the config's video (or, with ``many``, one per prompt × seed, in batches through
    ``generate_pairs``), report and save each as soon as its batch is done, and exit 3 when a video's planned
    guidance never happened (unless ``allow_unguided``)."""
    with _pipeline(config, sources) as pipeline:
        pipeline.check()
        if save:
            pipeline.output_dir(out)  # a bad --out / output.dir fails before any model loads
        batches: list[list[tuple[str, int]] | None] = [None]
        if many is not None:
            pairs = [(prompt, seed) for prompt in many[0] for seed in many[1]]
            batches = [pairs[begin : begin + BATCH_VIDEOS] for begin in range(0, len(pairs), BATCH_VIDEOS)]
        made, unguided = 0, []
        for batch in batches:
            try:
                results = _sample(pipeline, batch)
            except Exception as error:  # not Ctrl-C: an interrupted run leaves nothing behind
                if save:
                    _save_failed(pipeline, error, out)
                raise
            for result in results:
                made += 1
                if _report(pipeline, config, result, save, out):
                    unguided.append(result)
        if unguided and not allow_unguided:
            planned = unguided[0].trace.totals()["planned_guided_steps"]
            raise UnguidedRun(
                f"guidance never happened for {len(unguided)} of {made} video(s): none of the {planned} "
                "planned guided steps selected by a valid reward score (see the notes above), so the video is "
                "unguided"
                + (" (it was saved)" if save else "")
                + ". Fix the rewards, or pass --allow-unguided to accept an unguided fallback."
            )


def _sample(pipeline: Any, pairs: list[tuple[str, int]] | None) -> list[Any]:
    """One batch with a progress bar on stderr: the config's video (``pairs`` None) or those of ``pairs``."""
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    ) as bar:
        task = bar.add_task("loading", total=None)
        pipeline.load()
        bar.update(task, description="sampling")

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        if pairs is None:
            return [pipeline.generate(progress=progress)]
        return list(pipeline.generate_pairs(pairs, progress=progress))


def _save_failed(pipeline: Any, error: BaseException, out: Path | None) -> None:
    """Save the trace so far of every video ``error`` ended mid-run (a run directory marked failed, no video)
    before the error is reported; a save that fails costs a warning, never the error itself."""
    from f2g_core.pipeline import failed_runs

    for failed in failed_runs(error):
        try:
            directory = pipeline.save_failed(failed, out)
        except F2GError as problem:
            warnings.warn(f"the failed run's trace was not kept: {problem}", stacklevel=2)
            continue
        where = (failed.trace.failure or {}).get("where", "")
        console.print(f"wrote {directory} (failed {where}: the trace so far, no video)")


def _report(pipeline: Any, config: RunConfig, result: Any, save: bool, out: Path | None) -> bool:
    """Print one video's outcome and save it, then the plugins' verdicts (guarded: a plugin that fails after
    sampling costs a warning, never the video); True when it went unguided."""
    totals = result.trace.totals()
    console.print(f"[bold]{escape(repr(result.prompt))}[/] seed {result.seed}: {_summary(config, totals)}")
    for event in result.trace.events:
        console.print(f"[yellow]note:[/] {event}")
    if save:
        console.print(f"wrote {pipeline.save(result, out)}")
    for verdict in _verdicts(result, config):
        console.print(verdict)
    return bool(totals["planned_guided_steps"] and not totals["guided_steps"])


def _verdicts(result: Any, config: RunConfig) -> list[str]:
    """Every plugin's non-empty ``describe_result``, in load order; one that raises (``SystemExit`` included) is
    skipped with a warning naming it (the video is saved before this runs)."""
    from f2g_core.plugins import default_plugins

    answers = default_plugins().call_each("describe_result", prompt=result.prompt, video=result.video, config=config)
    return [str(verdict) for _, verdict in answers if verdict]


def _summary(config: RunConfig, totals: dict[str, Any]) -> str:
    """The one-line outcome: method and how many of the planned guided steps a valid score actually decided."""
    method: str = config.guidance.method
    planned, guided = totals["planned_guided_steps"], totals["guided_steps"]
    if planned and not guided:
        method = f"[red]{method} failed: unguided[/] (0 of {planned} guided steps scored)"
    elif planned:
        method += f" ({guided} of {planned} guided steps scored)" if guided < planned else f" ({guided} guided steps)"
    return (
        f"{method}, {totals['model_calls']} model calls, {totals['reward_calls']} reward calls, "
        f"{totals['seconds']['total']:.2f} s"
    )


def generate(
    prompt: Annotated[str | None, typer.Argument(help="What the video should show (or use --prompts FILE).")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="A YAML / TOML / JSON run config.")] = None,
    backbone: Annotated[str | None, typer.Option(help="Backbone id (see `f2g list backbones`).")] = None,
    reward: Annotated[
        list[str] | None, typer.Option("--reward", "-r", help="Reward id; repeat for an ensemble.")
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(help="Search method: free2guide, best-of-n, smc, beam, prune, draft, none (`f2g list samplers`)."),
    ] = None,
    num_candidates: Annotated[
        int | None,
        typer.Option("--num-candidates", "-n", help="The method's size: candidates n / chains N / particles k."),
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Sampling steps T.")] = None,
    guided_steps: Annotated[int | None, typer.Option(help="How many steps are guided.")] = None,
    budget: Annotated[
        int | None,
        typer.Option(
            "--budget",
            min=1,
            help="Model calls per video: the method's options follow from it (docs/samplers.md#budgets); "
            "-n and --set still win.",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    prompts: Annotated[
        Path | None, typer.Option("--prompts", help="A text file of prompts, one per line: one video per prompt.")
    ] = None,
    seeds: Annotated[
        str | None, typer.Option("--seeds", help="Seeds for every prompt: 0-3, or 1,5,9 (with --prompts or PROMPT).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Parent folder of the run directory.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a setting: KEY=VALUE (dotted).")] = None,
    save: Annotated[bool, typer.Option(help="Write the run directory.")] = True,
    allow_unguided: Annotated[
        bool,
        typer.Option(
            "--allow-unguided", help="Exit 0 even when no guided step was decided by a valid score (else exit 3)."
        ),
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Validate the settings, print the memory estimate, then stop.")
    ] = False,
) -> None:
    """Generate a guided video for PROMPT (defaults come from installed plugins, e.g. the shapes world)."""
    if (prompt is None) == (prompts is None):  # a usage error: typer prints the usage line and exits 2
        raise typer.BadParameter("give a PROMPT argument or --prompts FILE (one of the two)", param_hint="PROMPT")
    if seed is not None and seeds is not None:
        raise typer.BadParameter(
            "give --seed or --seeds, not both (--seeds 5 makes the one seed 5)", param_hint="--seed"
        )
    prompt_list = _read_prompts(prompts) if prompts is not None else None
    seed_list = _parse_seeds(seeds, len(prompt_list or [prompt])) if seeds is not None else None
    sources = ConfigSources()
    sources.merge("plugin defaults", _plugin_defaults())
    if config is not None:
        sources.merge(str(config), read_config_file(config))
    flags: dict[str, Any] = {} if prompt is None else {"prompt": prompt}
    if seed is not None:
        flags["seed"] = seed
    if backbone:
        flags["backbone"] = {"type": backbone}
    if reward:
        flags["rewards"] = [{"type": r} for r in reward]
    if steps is not None:
        flags["sampler"] = {"num_steps": steps}
    sources.merge("command-line flags", flags)
    _budget_flag(sources, budget)
    _guidance_flags(sources, method, num_candidates, guided_steps)
    sources.set(set_ or [])
    if "backbone" not in sources.data:
        from f2g_core.plugins import default_plugins

        raise ConfigError(
            "backbone: none configured. Pass --backbone ID or --config FILE, or install a plugin that provides "
            "defaults (the README's quick start installs the embedded default world)."
            + default_plugins().registry.unavailable_hint()
        )
    loaded = sources.load()
    if check:
        _check(loaded, sources, "settings")
        return
    if prompt_list is None and seed_list is None:
        _run(loaded, sources, save, out, allow_unguided)
        return
    many = (prompt_list or [loaded.prompt or ""], seed_list or [loaded.seed])
    _run(loaded, sources, save, out, allow_unguided, many=many)


def _pipeline(config: RunConfig, sources: ConfigSources) -> Pipeline:
    """The pipeline of ``config``; a bad component option is blamed on the layer (file, flag, ``--set``) that set
    it, as the config's own errors are."""
    from f2g_core.pipeline import Pipeline

    try:
        return Pipeline.from_config(config)
    except ConfigError as error:
        if error.location is None:
            raise
        raise ConfigError(f"{sources.blame(error.location)}: {error}", error.location) from None


def _budget_flag(sources: ConfigSources, budget: int | None) -> None:
    """Apply --budget: the method's options come from the budget, not from config files or plugin defaults."""
    if budget is not None:
        guidance = dict(sources.data.get("guidance") or {})
        sources.replace(
            "command-line flags", "guidance", {**guidance, "options": {}, "budget": {"model_calls": budget}}
        )


def _guidance_flags(sources: ConfigSources, method: str | None, size: int | None, guided_steps: int | None) -> None:
    """Apply --method / -n / --guided-steps: a different method starts from its own default options."""
    if method is None and size is None and guided_steps is None:
        return
    from f2g_core.plugins import default_plugins

    guidance = dict(sources.data.get("guidance") or {})
    configured = guidance.get("method", GuidanceConfig.model_fields["method"].default)
    if method is not None and method != configured:
        sources.replace("command-line flags", "guidance", {**guidance, "method": method, "options": {}})
    options: dict[str, Any] = {}
    entry = default_plugins().registry.get("sampler", method or configured, "--method")
    if size is not None:
        key = getattr(entry.cls, "size_option", None)
        if key is None:
            raise ConfigError(f"-n: guidance method {entry.name!r} has no size option")
        options[key] = size
    if guided_steps is not None:
        if "num_guided_steps" not in entry.cls.Options.model_fields:
            raise ConfigError(
                f"--guided-steps: guidance method {entry.name!r} has no guided window; pick a method that has "
                "one (e.g. --method free2guide or --method beam)"
            )
        options["num_guided_steps"] = guided_steps
    if options:
        sources.merge("command-line flags", {"guidance": {"options": options}})


def _read_prompts(path: Path) -> list[str]:
    if path.is_dir():
        raise ConfigError(f"--prompts: {str(path)!r} is a directory; give a text file with one prompt per line")
    if not path.is_file():
        raise ConfigError(f"--prompts: file {str(path)!r} does not exist")
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError:
        raise ConfigError(f"--prompts: {path} is not a UTF-8 text file (one prompt per line)") from None
    except OSError as error:
        raise ConfigError(f"--prompts: cannot read {str(path)!r} ({error.strerror or error})") from None
    found = [line for line in lines if line and not line.startswith("#")]
    if not found:
        raise ConfigError(f"--prompts: {path} has no prompts (one per line; # starts a comment)")
    return found


def _parse_seeds(text: str, prompts: int = 1) -> list[int]:
    """``0-3`` → [0, 1, 2, 3]; ``1,5,9`` → [1, 5, 9]. A seed given twice (it would make the same video twice) and
    more than :data:`MAX_VIDEOS` videos in all are refused before anything is built."""
    ranges: list[range] = []
    try:
        for part in text.split(","):
            low, sep, high = part.strip().partition("-")
            ranges.append(range(int(low), int(high) + 1) if sep else range(int(low), int(low) + 1))
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: use a range like 0-3 or a list like 1,5,9") from None
    if not ranges or any(not r for r in ranges) or min(r.start for r in ranges) < 0:
        raise ConfigError(f"--seeds {text!r}: give at least one seed >= 0, and ranges low-high with low <= high")
    if max(r.stop - 1 for r in ranges) >= 2**63:
        raise ConfigError(f"--seeds {text!r}: seeds must be below 2**63")
    count = sum(len(r) for r in ranges) * prompts
    if count > MAX_VIDEOS:
        raise ConfigError(
            f"--seeds {text!r} with {prompts} prompt(s) asks for {count} videos; one command makes at most "
            f"{MAX_VIDEOS}: split the seeds over several commands"
        )
    seeds = [seed for r in ranges for seed in r]
    repeated = sorted(seed for seed, times in Counter(seeds).items() if times > 1)
    if repeated:
        raise ConfigError(
            f"--seeds {text!r}: seed(s) {', '.join(map(str, repeated[:5]))} given more than once; one seed makes "
            "one video, so give each seed once"
        )
    return seeds


def run(
    config: Annotated[Path, typer.Argument(help="A YAML / TOML / JSON run config.")],
    prompt: Annotated[str | None, typer.Option(help="Override the config's prompt.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override the config's seed.")] = None,
    out: Annotated[Path | None, typer.Option(help="Parent folder of the run directory.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a setting: KEY=VALUE (dotted).")] = None,
    check: Annotated[bool, typer.Option("--check", help="Validate the config and its components, then stop.")] = False,
    allow_unguided: Annotated[
        bool,
        typer.Option(
            "--allow-unguided", help="Exit 0 even when no guided step was decided by a valid score (else exit 3)."
        ),
    ] = False,
) -> None:
    """Run a config file exactly as written (plus --set overrides)."""
    sources = ConfigSources()
    sources.merge(str(config), read_config_file(config))
    flags = {key: value for key, value in {"prompt": prompt, "seed": seed}.items() if value is not None}
    if flags:
        sources.merge("command-line flags", flags)
    sources.set(set_ or [])
    run_config = sources.load()
    if check:
        _check(run_config, sources, str(config))
        return
    _run(run_config, sources, True, out, allow_unguided)


def _check(config: RunConfig, sources: ConfigSources, label: str) -> None:
    """``--check``: validate the config and its components without loading weights, print the backbone's memory
    estimate where it gives one (so a GPU user learns before loading whether the config fits the card)."""
    pipeline = _pipeline(config, sources)
    pipeline.check()
    console.print(f"{label}: ok")
    if (memory := pipeline.memory_report()) is not None:
        console.print(memory)


# ------------------------------------------------------------------------------------------------- listing


def plugins(
    all_: Annotated[bool, typer.Option("--all", help="Include built-in plugins and error details.")] = False,
) -> None:
    """Installed plugins, their versions and components, and any that failed to load."""
    from f2g_core.plugins import default_plugins

    loaded = default_plugins()
    table = Table("plugin", "distribution", "version", "status", "components")
    for info in loaded.infos:
        if info.builtin and not all_:
            continue
        status = "[green]ok[/]" if info.ok else f"[red]failed[/]: {info.error}"
        if info.skipped:
            status += f"; [yellow]skipped[/] {', '.join(s.split(' (')[0] for s in info.skipped)} (id taken)"
        if info.notes:
            status += "; [yellow]" + "; ".join(info.notes) + "[/]"
        table.add_row(info.name, info.distribution or "-", info.version or "-", status, ", ".join(info.components))
    console.print(table)
    if all_:
        for info in loaded.failures:
            errors.print(f"[bold]{info.name}[/] traceback:\n{info.details}")
        for info in loaded.infos:
            for skipped in info.skipped:
                errors.print(f"[bold]{info.name}[/] skipped {skipped}")


_KINDS = {
    "rewards": "reward",
    "backbones": "backbone",
    "combiners": "combiner",
    "samplers": "sampler",
    "suites": "suite",
    "metrics": "metric",
}


def _list(kind: str, options: bool, as_json: bool) -> None:
    from f2g_core.describe import field_default, field_limits, type_name
    from f2g_core.plugins import default_plugins

    entries = default_plugins().registry.components(_KINDS[kind])  # type: ignore[arg-type]
    if as_json:
        payload = [
            {
                "name": e.name,
                "plugin": e.plugin,
                "distribution": e.distribution,
                "version": e.version,
                "aliases": list(e.aliases),
                "options": e.cls.Options.model_json_schema(),
            }
            for e in entries
        ]
        console.print_json(json.dumps(payload))
        return
    table = Table("id", "aliases", "plugin", "distribution", "description")
    for entry in entries:
        origin = " ".join(part for part in (entry.distribution, entry.version) if part) or "-"
        table.add_row(entry.name, ", ".join(entry.aliases), entry.plugin, origin, entry.cls.description())
    console.print(table)
    if options:
        for entry in entries:
            fields = entry.cls.Options.model_fields
            if not fields:
                continue
            detail = Table("option", "type", "default", "limits", "description", title=f"{entry.name} options")
            for field_name, field in fields.items():
                limits = field_limits(field)
                detail.add_row(field_name, type_name(field.annotation), field_default(field), limits, field.description)
            console.print(detail)


def _list_command(kind: str) -> None:
    def command(
        options: Annotated[bool, typer.Option("--options", help="Show each component's options.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable, with option schemas.")] = False,
    ) -> None:
        _list(kind, options, as_json)

    command.__doc__ = f"Registered {kind}."
    list_app.command(name=kind)(command)


for _kind in _KINDS:
    _list_command(_kind)


# ------------------------------------------------------------------------------------------------- keys


@keys_app.command("set")
def keys_set(
    name: Annotated[str, typer.Argument(help="Key name, e.g. openai or anthropic.")],
    value: Annotated[
        str | None, typer.Option(help="The key; omit to be prompted (hidden) or pipe it on stdin.")
    ] = None,
) -> None:
    """Store an API key (mode 0600); rewards use it when their environment variable is unset."""
    from f2g_core.keys import set_key

    if value is None:
        value = sys.stdin.readline().strip() if not sys.stdin.isatty() else typer.prompt(f"{name} key", hide_input=True)
    path = set_key(name, value)
    console.print(f"stored key {name!r} in {path}")


@keys_app.command("list")
def keys_list() -> None:
    """Names of stored keys (values are never shown)."""
    from f2g_core.keys import key_store_path, list_keys

    names = list_keys()
    console.print("\n".join(names) if names else f"no keys stored in {key_store_path()}")


@keys_app.command("delete")
def keys_delete(name: Annotated[str, typer.Argument(help="Key name.")]) -> None:
    """Remove a stored key."""
    from f2g_core.keys import delete_key

    if not delete_key(name):
        raise ConfigError(f"no stored key named {name!r} (see `f2g keys list`)")
    console.print(f"deleted key {name!r}")


# ------------------------------------------------------------------------------------------------- registration


def add_builtin_commands(cli: typer.Typer) -> None:
    """Add f2g-core's own commands to ``cli``: what the built-in plugin's ``register_commands`` does."""
    cli.command()(generate)
    cli.command()(run)
    cli.command()(plugins)
    cli.add_typer(list_app, name="list")
    cli.add_typer(keys_app, name="keys")
    cli.add_typer(plugin_app, name="plugin")
    cli.add_typer(serve_app, name="serve")


# ------------------------------------------------------------------------------------------------- entry point


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    errors.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def _exit_interrupted() -> None:
    """Exit 130 now. A reward still running in a worker thread (a sleeping remote call, a long model forward)
    would otherwise hold the interpreter at shutdown, so with such threads alive the process ends without
    waiting for them (the run directory is never half-written: saving is atomic, see outputs.py)."""
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    sys.exit(130)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: run the app and turn every outcome into its documented exit code.

    typer runs in standalone mode: it prints usage errors with the usage line and exits 2 by itself; f2g's own
    errors, interruptions and unexpected failures propagate out of it and are reported here as one line.
    """
    if not _state["debug"]:
        warnings.showwarning = _show_warning
    try:
        app(args=argv, prog_name="f2g")
    except (Interrupted, KeyboardInterrupt):
        errors.print("interrupted", highlight=False)
        _exit_interrupted()
    except F2GError as error:
        _traceback()
        errors.print(f"[red]error:[/] {escape(shorten_values(str(error)))}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
    except Exception as error:
        _traceback()
        errors.print(
            f"[red]error:[/] unexpected {type(error).__name__}: {escape(shorten_values(str(error)))}"
            + ("" if _state["debug"] else " (rerun with --debug for the traceback)"),
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)


def _traceback() -> None:
    """With ``--debug`` / ``F2G_DEBUG=1``, print the current exception's traceback to stderr; the exit code and
    the one-line message stay what they are without it (docs/cli.md)."""
    if _state["debug"]:
        traceback.print_exc(file=sys.stderr)


if __name__ == "__main__":
    main()
