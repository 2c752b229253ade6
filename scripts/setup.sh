#!/usr/bin/env bash
# Create a virtual environment (./.venv, or $F2G_VENV) and install f2g into it.
#   bash scripts/setup.sh         core + the embedded default world (f2g-plugin-shapes) + f2g-eval: `f2g generate`
#                                 and `f2g eval`
#   bash scripts/setup.sh --dev   core + every package in f2g_plugins/ (f2g-eval included) with test extras +
#                                 ruff/mypy: the test suite
#   bash scripts/setup.sh --core  f2g-core with its test extras only: the core's tests run without any plugin
#   bash scripts/setup.sh --eval  f2g-core and f2g-eval with their test extras: eval's tests without other plugins
# torch is installed first and pinned by constraints.txt for every later install, so no dependency can replace the
# CPU wheel with a multi-gigabyte CUDA build (see docs/install.md).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
venv=${F2G_VENV:-.venv}
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check -c constraints.txt)
"${pip[@]}" "torch==2.13.0"
case "${1:-}" in
  --dev)
    packages=(-e ".[dev]")
    # shared packages (no f2g entry point: f2g-lvlm, f2g-torch-utils) before the plugins that depend on them:
    # pip's resolver fails to match an editable requirement with extras listed after its dependents
    for plugin in f2g_plugins/*/; do
      [ -f "$plugin/pyproject.toml" ] && ! grep -q '^\[project.entry-points.f2g\]' "$plugin/pyproject.toml" \
        && packages+=(-e "${plugin%/}[test]")
    done
    # then the plugins, those another plugin depends on first (f2g-plugin-transformers-vlm before
    # f2g-plugin-checklist), for the same reason
    for wanted in 1 0; do
      for plugin in f2g_plugins/*/; do
        grep -qs '^\[project.entry-points.f2g\]' "$plugin/pyproject.toml" || continue
        name=$(sed -n 's/^name = "\(.*\)"$/\1/p' "$plugin/pyproject.toml")
        needed=0
        grep -qs "\"$name[<>=]" f2g_plugins/*/pyproject.toml && needed=1
        [ "$needed" = "$wanted" ] && packages+=(-e "${plugin%/}[test]")
      done
    done
    ;;
  --core) packages=(-e ".[test]") ;;
  --eval) packages=(-e ".[test]" -e "f2g_plugins/eval[test]") ;;
  "") packages=(-e . -e f2g_plugins/shapes -e f2g_plugins/eval) ;;
  *) echo "usage: bash scripts/setup.sh [--dev | --core | --eval]" >&2; exit 2 ;;
esac
"${pip[@]}" "${packages[@]}"
if [ "${1:-}" = "--dev" ] && ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  # headless Chromium for the `f2g eval` report test (f2g_plugins/eval/tests/test_report_browser.py); skipped where missing
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
"$venv/bin/python" -m pip check --disable-pip-version-check >/dev/null || "$venv/bin/python" -m pip check
