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
# The packages are installed by uv (pip installs uv itself into the venv, pinned by constraints.txt): pip took 4.4
# minutes for the dev install and over a minute for each venv of scripts/test.sh, mostly unpacking torch and
# building the editable packages again; uv links torch from its cache and resolves in seconds. uv does not read
# pip's configuration, so the indexes and wheel folders pip is set up with here (`pip config list`: the local CPU
# torch wheel among them) are handed to it, and it weighs every index as pip does.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
venv=${F2G_VENV:-.venv}
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
install() {
  local options=(--index-strategy unsafe-best-match) setting value url
  while IFS= read -r setting; do  # key='value' lines: global.find-links='/opt/wheels'
    value=${setting#*=\'}
    value=${value%\'}
    case ${setting%%=*} in
      *.index-url) options+=(--index-url "$value") ;;
      *.extra-index-url) for url in $value; do options+=(--extra-index-url "$url"); done ;;
      *.find-links) for url in $value; do options+=(--find-links "$url"); done ;;
      *.constraint) for url in $value; do options+=(-c "$url"); done ;;
    esac
  done < <("$venv/bin/python" -m pip config list 2>/dev/null)
  [ -x "$venv/bin/uv" ] || "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -c constraints.txt uv
  "$venv/bin/uv" pip install --quiet --compile-bytecode --python "$venv/bin/python" "${options[@]}" -c constraints.txt "$@"
}
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
# Nothing to install when this venv was made by this mode from these very files (this tree, this script,
# constraints.txt, every pyproject.toml) and still holds every package: pip would spend minutes rebuilding each
# editable package only to change nothing (scripts/test.sh runs this on every run).
mode=${1:-main}
stamp="$venv/.f2g-setup-${mode#--}"
made_from=$({ pwd; cat scripts/setup.sh constraints.txt pyproject.toml f2g_plugins/*/pyproject.toml; } | sha256sum)
names=(torch)
for package in "${packages[@]}"; do
  [ "$package" = -e ] || names+=("$(sed -n 's/^name = "\(.*\)"$/\1/p' "${package%%\[*}/pyproject.toml")")
done
holds_all='import sys, importlib.metadata as m; [m.version(name) for name in sys.argv[1:]]'
installed=0
if [ "$(cat "$stamp" 2>/dev/null)" = "$made_from" ] && "$venv/bin/python" -c "$holds_all" "${names[@]}" 2>/dev/null; then
  installed=1
else
  rm -f "$stamp"
  install "torch==2.13.0"
  install "${packages[@]}"
fi
if [ "${1:-}" = "--dev" ] && ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  # headless Chromium for the `f2g eval` report test (f2g_plugins/eval/tests/test_report_browser.py); skipped where missing
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
"$venv/bin/python" -m pip check --disable-pip-version-check >/dev/null || "$venv/bin/python" -m pip check
[ "$installed" = 1 ] || echo "$made_from" >"$stamp"
