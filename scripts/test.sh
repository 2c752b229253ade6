#!/usr/bin/env bash
# Everything CI checks, as users install f2g (README "Run the whole test suite"; .ci/run runs exactly this):
#   1. the dev install (bash scripts/setup.sh --dev): ruff check, ruff format --check, mypy on every package;
#   2. the core's tests in a venv holding f2g-core[test] alone (no plugin, no f2g-eval and none of its
#      dependencies), then f2g-eval's tests in a venv holding f2g-core and f2g-eval alone;
#   3. every plugin's tests with F2G_STRICT_PLUGINS=1 (any plugin problem is fatal), then the core's tests with
#      every plugin installed, less those marked `plugin_independent` (they never load the installed plugins, so
#      stage 2 ran all they check; tests/conftest.py fails a marked test that loads them);
#   4. every test marked `numerics` (float results computed two ways) once more on a second CPU kernel path: ATen's
#      portable kernels and oneDNN's / MKL's SSE code paths, so a tolerance that holds on one CPU only fails here;
#   5. a smoke test of the README's main-job install (bash scripts/setup.sh in a fresh copy): the main job, a
#      usage error, Ctrl-C (scripts/smoke_main_job.py).
# Extra arguments go to every pytest run (e.g. -x). Venvs other than .venv live under $F2G_TEST_VENVS (default
# .test-venvs/) and are reused between runs (setup.sh is idempotent). Each pytest run uses $F2G_TEST_WORKERS
# processes (pytest-xdist, default 2; 0 runs the tests in pytest's own process): `--dist loadgroup` keeps the tests
# of one file in one worker (conftest.py). Tests marked `ray` start a Ray cluster and kill its processes, which an
# xdist worker did not survive (and xdist then waited for the lost worker's tests forever): they run once, in their
# own serial pytest run with every plugin installed (most run the shapes world), and the other runs leave them out.
# Each xdist worker's torch uses its share of the cores (conftest.py: one thread each on two cores): two workers of
# two threads each waited for each other at every parallel op (the second-kernel-path run took 11 minutes so, 2.7
# in one process). pytest-timeout fails a test still running after 600 s (pyproject.toml) and
# --max-worker-restart=0 ends the run when a worker dies, instead of waiting for its tests forever.
set -euo pipefail
cd "$(dirname "$0")/.."
# Every Python process of the run may cache the modules it compiles (__pycache__, ignored by git): where the
# environment sets PYTHONDONTWRITEBYTECODE (the developers' machines here do), each pytest worker and each test's
# `f2g` subprocess compiled the project's sources and the rewritten test modules anew.
unset PYTHONDONTWRITEBYTECODE
venvs=${F2G_TEST_VENVS:-.test-venvs}
parallel=(-n "${F2G_TEST_WORKERS:-2}" --dist loadgroup --max-worker-restart=0)
mkdir -p "$venvs"
step() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "dev install"
bash scripts/setup.sh --dev
step "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
step "mypy"
packages=(f2g_core)
for plugin in f2g_plugins/*/; do
  for module in "$plugin"f2g_*/; do [ -f "$module/__init__.py" ] && packages+=("${module%/}"); done
done
.venv/bin/mypy "${packages[@]}"

step "core tests, core alone"
F2G_VENV="$venvs/core" bash scripts/setup.sh --core
"$venvs/core/bin/python" -m pytest -p no:cacheprovider "${parallel[@]}" tests "$@"
step "eval tests, f2g-core and f2g-eval alone"
F2G_VENV="$venvs/eval" bash scripts/setup.sh --eval
"$venvs/eval/bin/python" -m pytest -p no:cacheprovider "${parallel[@]}" -m "not heavy and not ray" f2g_plugins/eval "$@"

step "plugin tests, F2G_STRICT_PLUGINS=1"
F2G_STRICT_PLUGINS=1 .venv/bin/python -m pytest "${parallel[@]}" -m "not heavy and not ray" f2g_plugins "$@"
step "eval's Ray tests, every plugin installed, in one process (they kill processes: no xdist worker)"
F2G_STRICT_PLUGINS=1 .venv/bin/python -m pytest -m "ray and not heavy" f2g_plugins/eval "$@"
step "core tests, every plugin installed (less plugin_independent ones: stage 2 ran them)"
.venv/bin/python -m pytest "${parallel[@]}" -m "not heavy and not plugin_independent" tests "$@"

step "numerical tests on a second CPU kernel path (ATEN_CPU_CAPABILITY=default, oneDNN/MKL SSE)"
ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 MKL_ENABLE_INSTRUCTIONS=SSE4_2 \
  .venv/bin/python -m pytest "${parallel[@]}" -m numerics f2g_plugins tests "$@"

step "main-job smoke test"
.venv/bin/python scripts/smoke_main_job.py --workdir "$venvs/main-job"
step "all checks passed"
