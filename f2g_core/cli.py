"""The ``f2g`` command: generate, run a config, list plugins and components, manage API keys.

Errors print one line and exit non-zero; ``--debug`` (or ``F2G_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from f2g_core import __version__
from f2g_core.config import apply_overrides, deep_merge, load_config, read_config_file
from f2g_core.errors import ConfigError, F2GError

app = typer.Typer(
    name="f2g",
    help="Train-free, gradient-free reward guidance (Free²Guide) for text-to-video diffusion models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
list_app = typer.Typer(help="List registered components.", no_args_is_help=True)
app.add_typer(list_app, name="list")
keys_app = typer.Typer(help="Manage API keys in the local key store (never printed).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
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

    defaults = default_plugins().manager.hook.default_run_config()
    return dict(defaults) if defaults else {}


def _run(data: dict[str, Any], where: str, prompt: str | None, seed: int | None, save: bool, out: Path | None) -> None:
    from f2g_core.pipeline import Pipeline
    from f2g_core.plugins import default_plugins

    config = load_config(data, where=where)
    with Pipeline.from_config(config) as pipeline:
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

            result = pipeline.generate(prompt=prompt, seed=seed, progress=progress)
        totals = result.trace.totals()
        console.print(
            f"[bold]{result.prompt!r}[/] seed {result.seed}: {config.guidance.method}, "
            f"{totals['model_calls']} model calls, {totals['reward_calls']} reward calls, "
            f"{totals['seconds']['total']:.2f} s"
        )
        for event in result.trace.events:
            console.print(f"[yellow]note:[/] {event}")
        hook = default_plugins().manager.hook
        for verdict in hook.describe_result(prompt=result.prompt, video=result.video, config=config):
            if verdict:
                console.print(verdict)
        if save:
            directory = pipeline.save(result, out)
            console.print(f"wrote {directory}")


@app.command()
def generate(
    prompt: Annotated[str | None, typer.Argument(help="What the video should show (or use --prompts FILE).")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="A YAML / TOML / JSON run config.")] = None,
    backbone: Annotated[str | None, typer.Option(help="Backbone id (see `f2g list backbones`).")] = None,
    reward: Annotated[
        list[str] | None, typer.Option("--reward", "-r", help="Reward id; repeat for an ensemble.")
    ] = None,
    method: Annotated[
        str | None, typer.Option(help="Search method: free2guide, best-of-n, smc, beam, none (`f2g list samplers`).")
    ] = None,
    num_candidates: Annotated[
        int | None,
        typer.Option("--num-candidates", "-n", help="The method's size: candidates n / chains N / particles k."),
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Sampling steps T.")] = None,
    guided_steps: Annotated[int | None, typer.Option(help="How many steps are guided.")] = None,
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
) -> None:
    """Generate a guided video for PROMPT (defaults come from installed plugins, e.g. the shapes world)."""
    data = _plugin_defaults()
    where = "defaults"
    if config is not None:
        data, where = deep_merge(data, read_config_file(config)), str(config)
    flags: dict[str, Any] = {}
    if backbone:
        flags["backbone"] = {"type": backbone}
    if reward:
        flags["rewards"] = [{"type": r} for r in reward]
    if steps is not None:
        flags["sampler"] = {"num_steps": steps}
    data = _guidance_flags(deep_merge(data, flags), method, num_candidates, guided_steps)
    data = apply_overrides(data, set_ or [])
    if "backbone" not in data:
        raise ConfigError(
            "backbone: none configured. Pass --backbone ID or --config FILE, or install the embedded default "
            "world: pip install f2g-plugin-shapes"
        )
    if prompts is not None or seeds is not None:
        _run_many(data, where, _read_prompts(prompts, prompt), _parse_seeds(seeds, seed), save, out)
        return
    if prompt is None:
        raise ConfigError("prompt: give a PROMPT argument or --prompts FILE")
    _run(data, where, prompt, seed, save, out)


def _guidance_flags(
    data: dict[str, Any], method: str | None, size: int | None, guided_steps: int | None
) -> dict[str, Any]:
    """Apply --method / -n / --guided-steps: a new method starts from its own default options."""
    from f2g_core.plugins import default_plugins

    guidance = dict(data.get("guidance") or {})
    if method is not None and method != guidance.get("method", "free2guide"):
        guidance = {**guidance, "method": method, "options": {}}
    options = dict(guidance.get("options") or {})
    if size is not None:
        entry = default_plugins().registry.get("sampler", guidance.get("method", "free2guide"), "--method")
        key = getattr(entry.cls, "size_option", None)
        if key is None:
            raise ConfigError(f"-n: guidance method {entry.name!r} has no size option")
        options[key] = size
    if guided_steps is not None:
        options["num_guided_steps"] = guided_steps
    if method is None and size is None and guided_steps is None:
        return data
    return {**data, "guidance": {**guidance, "options": options}}


def _read_prompts(path: Path | None, prompt: str | None) -> list[str]:
    if path is None:
        if prompt is None:
            raise ConfigError("prompt: give a PROMPT argument or --prompts FILE")
        return [prompt]
    if not path.is_file():
        raise ConfigError(f"--prompts: file {str(path)!r} does not exist")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    found = [line for line in lines if line and not line.startswith("#")]
    if not found:
        raise ConfigError(f"--prompts: {path} has no prompts (one per line; # starts a comment)")
    return found


def _parse_seeds(text: str | None, seed: int | None) -> list[int] | None:
    """``0-3`` → [0, 1, 2, 3]; ``1,5,9`` → [1, 5, 9]; None → the --seed or the config's seed."""
    if text is None:
        return None if seed is None else [seed]
    seeds: list[int] = []
    try:
        for part in text.split(","):
            low, sep, high = part.strip().partition("-")
            seeds.extend(range(int(low), int(high) + 1) if sep else [int(low)])
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: use a range like 0-3 or a list like 1,5,9") from None
    if not seeds or min(seeds) < 0:
        raise ConfigError(f"--seeds {text!r}: give at least one seed >= 0")
    return seeds


def _run_many(
    data: dict[str, Any], where: str, prompts: list[str], seeds: list[int] | None, save: bool, out: Path | None
) -> None:
    """Several videos through ``Pipeline.generate_many`` (batched where the backbone allows), one run dir each."""
    from f2g_core.pipeline import Pipeline

    config = load_config(data, where=where)
    with Pipeline.from_config(config) as pipeline:
        results = pipeline.generate_many(prompts, seeds)
        for result in results:
            totals = result.trace.totals()
            line = (
                f"[bold]{result.prompt!r}[/] seed {result.seed}: {config.guidance.method}, "
                f"{totals['model_calls']} model calls, {totals['reward_calls']} reward calls"
            )
            if save:
                line += f", wrote {pipeline.save(result, out)}"
            console.print(line)
            for event in result.trace.events:
                console.print(f"[yellow]note:[/] {event}")


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="A YAML / TOML / JSON run config.")],
    prompt: Annotated[str | None, typer.Option(help="Override the config's prompt.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override the config's seed.")] = None,
    out: Annotated[Path | None, typer.Option(help="Parent folder of the run directory.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a setting: KEY=VALUE (dotted).")] = None,
    check: Annotated[bool, typer.Option("--check", help="Validate the config and its components, then stop.")] = False,
) -> None:
    """Run a config file exactly as written (plus --set overrides)."""
    data = apply_overrides(read_config_file(config), set_ or [])
    if check:
        from f2g_core.pipeline import Pipeline

        Pipeline.from_config(load_config(data, where=str(config)))
        console.print(f"{config}: ok")
        return
    _run(data, str(config), prompt, seed, True, out)


# ------------------------------------------------------------------------------------------------- listing


@app.command()
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
        table.add_row(info.name, info.distribution or "-", info.version or "-", status, ", ".join(info.components))
    console.print(table)
    if all_:
        for info in loaded.failures:
            errors.print(f"[bold]{info.name}[/] traceback:\n{info.details}")


_KINDS = {"rewards": "reward", "backbones": "backbone", "combiners": "combiner", "samplers": "sampler"}


def _list(kind: str, options: bool, as_json: bool) -> None:
    from f2g_core.plugins import default_plugins

    entries = default_plugins().registry.components(_KINDS[kind])  # type: ignore[arg-type]
    if as_json:
        payload = [
            {
                "name": e.name,
                "plugin": e.plugin,
                "aliases": list(e.aliases),
                "options": e.cls.Options.model_json_schema(),
            }
            for e in entries
        ]
        console.print_json(json.dumps(payload))
        return
    table = Table("id", "aliases", "plugin", "description")
    for entry in entries:
        table.add_row(entry.name, ", ".join(entry.aliases), entry.plugin, entry.cls.description())
    console.print(table)
    if options:
        for entry in entries:
            fields = entry.cls.Options.model_fields
            if not fields:
                continue
            detail = Table("option", "type", "default", "description", title=f"{entry.name} options")
            for field_name, field in fields.items():
                default = "required" if field.is_required() else repr(field.get_default(call_default_factory=True))
                detail.add_row(field_name, _type_name(field.annotation), default, field.description or "")
            console.print(detail)


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


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


# ------------------------------------------------------------------------------------------------- entry point


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    errors.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: run the app, turning f2g errors into one-line messages."""
    if not _state["debug"]:
        warnings.showwarning = _show_warning
    try:
        app(args=argv, standalone_mode=False)
    except F2GError as error:
        if _state["debug"]:
            raise
        errors.print(f"[red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(2 if isinstance(error, ConfigError) else 1)
    except (typer.Abort, KeyboardInterrupt):
        errors.print("aborted")
        sys.exit(130)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except Exception as error:  # click usage errors and unexpected failures
        import click

        if isinstance(error, click.ClickException):
            error.show()
            sys.exit(error.exit_code)
        if _state["debug"]:
            raise
        errors.print(
            f"[red]error:[/] unexpected {type(error).__name__}: {error} (rerun with --debug for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
