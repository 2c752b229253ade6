#!/usr/bin/env bash
# Run, or resume, one split of the scaling study v2 (docs/samplers.md#scaling-study), one grid cell at a time.
#   bash benchmarks/scaling/v2/run.sh dev|test OUT [ARCHIVE]
# OUT: the f2g eval directory (results store, traces, videos). ARCHIVE (default
# benchmarks/scaling/v2/results/scaling-v2-SPLIT): the committed copy of the finished jobs (archive.py). Before
# the first cell the archive's jobs are put into OUT, so a fresh machine does only the jobs nobody has done; after
# each cell the new jobs are added to the archive (commit it). $CELLS picks and orders the cells (METHOD@BUDGET or
# unguided; default: unguided, then every method at every budget, cheapest budget first); $F2G and $PYTHON name
# the venv to run (default .venv). A cell is one `f2g eval` command, so cells finish one by one, not all at the end.
set -euo pipefail
split=${1:?usage: run.sh dev|test OUT [ARCHIVE]}
out=$(realpath -m "${2:?usage: run.sh dev|test OUT [ARCHIVE]}")
[ -z "${3:-}" ] || archive=$(realpath -m "$3")
cd "$(dirname "$0")/../../.."
here=benchmarks/scaling/v2
archive=${archive:-$here/results/scaling-v2-$split}
python=${PYTHON:-.venv/bin/python}
f2g=${F2G:-.venv/bin/f2g}
case $split in
  dev) suite="shapes-benchmark:pairs=100,categories=multiple+relation,split=dev" ;;
  test) suite="shapes-benchmark:pairs=400,categories=multiple+relation" ;;
  *) echo "run.sh: the split is dev or test, not '$split'" >&2; exit 2 ;;
esac
methods="best-of-n prune draft smc beam free2guide"
default_cells=unguided$(for budget in 75 150 300 600; do for method in $methods; do printf ' %s@%s' "$method" "$budget"; done; done)
if compgen -G "$archive/*.jsonl.gz" >/dev/null; then "$python" "$here/archive.py" load "$archive" "$out"; fi
for cell in ${CELLS:-$default_cells}; do
  printf '\n=== %s (%s)\n' "$cell" "$(date -u +%H:%M:%S)"
  if [ "$cell" = unguided ]; then grid=(-c "$here/unguided.yaml")
  else grid=(-c "$here/base.yaml" --methods "${cell%@*}" --budgets "${cell#*@}" --steps 25); fi
  "$f2g" eval "$suite" "${grid[@]}" --metric shapes --workers 2 --batch 8 --no-report --out "$out"
  "$python" "$here/archive.py" save "$out" "$archive"
done
