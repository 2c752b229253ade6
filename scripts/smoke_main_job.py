"""Smoke test of the README's main-job install, as a new user meets it.

Copies the working tree (git's tracked and untracked-but-not-ignored files) into a fresh folder, runs the README's
main-job command there (``bash scripts/setup.sh``: core + the embedded shapes world + f2g-eval, no dev tools, no
click), then checks with that install's ``f2g``:

* the main job, ``f2g generate "a red circle moving left"``, exits 0 and writes a run directory with a video;
* a usage error, ``f2g lst``, exits 2 with the usage line and no traceback;
* ``f2g eval --help`` exits 0 (the f2g-eval distribution adds the command through its plugin);
* Ctrl-C (SIGINT to the process mid-run) prints "interrupted", exits 130 and leaves no run directory.

Run it with any Python 3.10+: ``python scripts/smoke_main_job.py [--workdir DIR]`` (stdlib only; exit 1 on failure).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROMPT = "a red circle moving left"


def copy_tree(target: Path) -> None:
    """The files a fresh clone would have, plus the developer's uncommitted and new (not ignored) files."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def check(condition: bool, what: str, done: subprocess.CompletedProcess[str] | None = None) -> None:
    if not condition:
        detail = f"\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}" if done else ""
        sys.exit(f"smoke test FAILED: {what}{detail}")
    print(f"ok: {what}")


def terminal_ctrl_c() -> None:
    """In the child, before exec: take Ctrl-C as a terminal delivers it. A shell without job control (a script's
    `cmd &`, nohup) starts its background jobs with SIGINT ignored, the child would inherit that, and the run would
    finish instead of stopping."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_mid_run(f2g: Path, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Start a long generation, wait until it has begun (its output folder exists), then send SIGINT."""
    runs = cwd / "interrupted-runs"
    process = subprocess.Popen(
        # a run of minutes: 1000 steps, and a budget they fit in (the default's 150 calls do not)
        [str(f2g), "generate", PROMPT, "--steps", "1000", "--budget", "5000", "--out", str(runs)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=terminal_ctrl_c,
    )
    deadline = time.monotonic() + 300  # generous: a busy 2-core machine can take minutes to load torch
    while not runs.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # loading weights or sampling: mid-run either way
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="Where the fresh copy goes (emptied first); default: a temp dir.")
    args = parser.parse_args()
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="f2g-smoke-"))).resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    copy_tree(workdir)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("F2G_", "VIRTUAL_ENV"))}
    env.update(HF_HUB_OFFLINE="1", COLUMNS="200")

    started = time.monotonic()
    subprocess.run(["bash", "scripts/setup.sh"], cwd=workdir, env=env, check=True)  # the README's main-job install
    print(f"main-job install: {time.monotonic() - started:.0f} s")
    f2g = workdir / ".venv" / "bin" / "f2g"

    done = subprocess.run([str(f2g), "generate", PROMPT], cwd=workdir, env=env, capture_output=True, text=True)
    runs = (
        [p for p in (workdir / "runs").glob("*") if not p.name.startswith(".")] if (workdir / "runs").exists() else []
    )
    check(done.returncode == 0, f'f2g generate "{PROMPT}" exits 0', done)
    check(
        len(runs) == 1 and (runs[0] / "video.mp4").is_file(), "the main job writes a run directory with video.mp4", done
    )

    done = subprocess.run([str(f2g), "lst"], cwd=workdir, env=env, capture_output=True, text=True)
    check(done.returncode == 2, "f2g lst exits 2", done)
    check("Usage:" in done.stderr and "Traceback" not in done.stderr, "f2g lst prints usage, no traceback", done)

    done = subprocess.run([str(f2g), "eval", "--help"], cwd=workdir, env=env, capture_output=True, text=True)
    check(done.returncode == 0 and "--metric" in done.stdout, "f2g eval --help lists the eval options", done)

    done = interrupt_mid_run(f2g, workdir, env)
    check(done.returncode == 130, "Ctrl-C mid-run exits 130", done)
    check("interrupted" in done.stderr and "Traceback" not in done.stderr, "Ctrl-C prints 'interrupted'", done)
    leftovers = list((workdir / "interrupted-runs").glob("*"))
    check(not leftovers, "Ctrl-C leaves no run directory", done)
    print(f"main-job smoke test passed in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
