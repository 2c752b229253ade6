"""Install f2g-core and one plugin from their wheels only, into a fresh venv, and run that plugin's tests there.

    python scripts/check_wheels.py                        # f2g-plugin-shapes
    python scripts/check_wheels.py --plugin f2g-plugin-openai --keep /tmp/wheel-check

Proves a package stands alone: the wheels are built from the sdists (scripts/build_wheels.py), installed with
their ``[test]`` extra into a venv that cannot see this checkout (no editable installs, no system site-packages,
the tests copied out of the repository and run from a temporary folder), third-party dependencies resolved from
the registry with torch pinned by constraints.txt. Exits non-zero on any failure and prints the seconds each phase
took.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_wheels import build, twine_check
from distributions import ROOT, distributions, requirement_name


def run(command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run a command, echoing it; fail with its output."""
    print("$", " ".join(command), flush=True)
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}")
    return done.stdout


def check(plugin: str, work: Path, isolation: bool) -> dict[str, float]:
    """Build, install and test; return the seconds of each phase."""
    known = {d.name: d for d in distributions()}
    if plugin not in known or plugin == "f2g-core":
        sys.exit(f"--plugin {plugin!r}: choose one of {sorted(set(known) - {'f2g-core'})}")
    chosen = [known["f2g-core"], known[plugin]]
    # Shared packages the plugin needs (f2g-lvlm, f2g-torch-utils …) come from our wheels too, never the registry.
    needed = {requirement_name(r) for r in known[plugin].requirements()}
    chosen += [known[name] for name in sorted(needed & set(known)) if known[name] not in chosen]
    times: dict[str, float] = {}

    start = time.perf_counter()
    wheels_dir = work / "wheels"
    wheels_dir.mkdir()
    wheels = []
    for dist in chosen:
        files = build(dist, wheels_dir, isolation=isolation)
        twine_check(files)
        wheels += [p for p in files if p.suffix == ".whl"]
    times["build"] = time.perf_counter() - start

    start = time.perf_counter()
    venv = work / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    targets = [str(w) + ("[test]" if w.name.startswith(plugin.replace("-", "_") + "-") else "") for w in wheels]
    run([python, "-m", "pip", "install", "--quiet", "-c", str(ROOT / "constraints.txt"), "torch==2.13.0"])
    run([python, "-m", "pip", "install", "--quiet", "-c", str(ROOT / "constraints.txt"), *targets])
    run([python, "-m", "pip", "check"])
    times["install"] = time.perf_counter() - start

    installed = json.loads(run([python, "-m", "pip", "list", "--format", "json", "--editable"]))
    if installed:
        sys.exit(f"editable installs leaked into the fresh venv: {installed}")
    module = chosen[1].version_attr.rsplit(".", 1)[0] if chosen[1].version_attr else plugin.replace("-", "_")
    where = run(
        [python, "-c", f"import f2g_core, {module}; print(f2g_core.__file__); print({module}.__file__)"], cwd=work
    )
    for line in where.split():
        if not Path(line).is_relative_to(venv):
            sys.exit(f"{line} is imported from outside the fresh venv")
    listing = run([str(venv / "bin" / "f2g"), "plugins"], cwd=work)
    if chosen[1].version not in listing or "failed" in listing:
        sys.exit(f"`f2g plugins` in the fresh venv does not list {plugin} {chosen[1].version} as ok:\n{listing}")

    start = time.perf_counter()
    tests = work / "tests"
    shutil.copytree(chosen[1].path / "tests", tests, ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env.update(HF_HUB_OFFLINE="1", F2G_STRICT_PLUGINS="1")
    out = run(
        [
            python,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(work),
            "--import-mode=importlib",
            "-o",
            "asyncio_mode=auto",
            "-m",
            "not heavy",
            str(tests),
        ],
        cwd=work,
        env=env,
    )
    print(out.strip().splitlines()[-1])
    times["tests"] = time.perf_counter() - start
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plugin", default="f2g-plugin-shapes", help="distribution whose tests are run")
    parser.add_argument("--keep", type=Path, help="work here and keep the wheels and venv (default: a temp dir)")
    parser.add_argument("--no-isolation", action="store_true", help="build with this environment's setuptools")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="f2g-wheels-") as temp:
        work = args.keep or Path(temp)
        work.mkdir(parents=True, exist_ok=True)
        times = check(args.plugin, work.resolve(), isolation=not args.no_isolation)
    print("wheel-only install ok: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))


if __name__ == "__main__":
    main()
