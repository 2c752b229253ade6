"""Keep a scaling-study eval directory's results in the repository, and bring them back on a fresh machine.

Why: the study's ``f2g eval`` runs take more CPU-hours than a working session has, so they run across sessions,
and a machine can be replaced between two of them — its eval directories (the results store and every run's
trace and video) with it. A session that lost them lost days of compute. What the study's table needs of a
finished job is small (its store row with its scores, and a digest of its trace: the counts and seconds
``benchmarks/api_cost.py`` models regime (ii) from), so this script writes those, and only those (the row's
per-step candidate rewards at 6 significant digits), to gzipped JSON lines in the repository, a new shard per
``save`` holding only the jobs no earlier shard holds (a commit adds the new jobs, never rewrites the old ones).

    python benchmarks/scaling/v2/archive.py save EVAL_DIR benchmarks/scaling/v2/results/NAME
    python benchmarks/scaling/v2/archive.py load benchmarks/scaling/v2/results/NAME EVAL_DIR

``load`` writes the archived jobs into EVAL_DIR's results store (the jobs it already holds are left as they are)
with each job's trace digest as its run directory's ``trace.json``: ``f2g eval`` with the same command then makes
only the jobs still missing, and ``benchmarks/scaling_table.py`` reads the directory as if every job had run
there. The videos themselves are not kept (the table does not read them; re-run a job to see its video).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from f2g_eval.jobs import JobResult
from f2g_eval.store import Store

DIGEST_RECORD = ("step", "phase", "model_calls", "reward_calls", "reward_rounds", "num_candidates", "seconds")
"""What a trace digest keeps of each step record and of the final choice."""
DIGEST_RUN = ("prompt", "seed", "method", "num_steps", "options", "totals", "events")
"""What it keeps of the run."""


def digest(trace: dict[str, Any]) -> dict[str, Any]:
    """The part of a trace.json the study reads: the run's options and totals and every record's counts."""

    def record(step: dict[str, Any]) -> dict[str, Any]:
        return {k: step[k] for k in DIGEST_RECORD if k in step}

    kept = {k: trace[k] for k in DIGEST_RUN if k in trace}
    kept["steps"] = [record(step) for step in trace["steps"]]
    kept["final"] = record(trace["final"]) if trace.get("final") else None
    kept["digest"] = "benchmarks/scaling/v2/archive.py: counts and seconds only"
    return kept


def rounded(row: dict[str, Any]) -> dict[str, Any]:
    """The row with its per-step candidate rewards at 6 significant digits: they are for reading how a search went,
    not for the table, and at full precision they were most of the archive's size."""

    def short(value: float | None) -> float | None:
        return None if value is None else float(f"{value:.6g}")

    steps = [{**step, "combined": [short(v) for v in step.get("combined", [])]} for step in row["steps"]]
    return {**row, "steps": steps}


def shards(archive: Path) -> list[Path]:
    return sorted(archive.glob("*.jsonl.gz"))


def archived(archive: Path) -> Iterator[dict[str, Any]]:
    for shard in shards(archive):
        with gzip.open(shard, "rt", encoding="utf-8") as lines:
            yield from (json.loads(line) for line in lines)


def save(eval_dir: Path, archive: Path) -> int:
    """Write the jobs of ``eval_dir`` that no shard of ``archive`` holds as a new shard; returns how many."""
    have = {(r["row"]["item_id"], r["row"]["seed"], r["row"]["config_hash"]) for r in archived(archive)}
    with Store(eval_dir / "results.sqlite") as store:
        rows = [row for row in store.rows() if row.key not in have]
        configs = dict(store.db.execute("SELECT config_hash, config FROM configs").fetchall())
    if not rows:
        return 0
    archive.mkdir(parents=True, exist_ok=True)
    shard = archive / f"{len(shards(archive)):04d}.jsonl.gz"
    partial = shard.with_name(shard.name + ".partial")  # renamed when whole: a reader never sees half a shard
    with gzip.open(partial, "wt", encoding="utf-8") as out:
        for row in rows:
            trace = json.loads((eval_dir / row.run_dir / "trace.json").read_text(encoding="utf-8"))
            entry = {"row": rounded(row.to_dict()), "trace": digest(trace), "config": configs.get(row.config_hash)}
            out.write(json.dumps(entry, allow_nan=True) + "\n")
    partial.replace(shard)
    return len(rows)


def load(archive: Path, eval_dir: Path) -> int:
    """Put every archived job the store lacks into ``eval_dir``'s store with its trace digest (a job it holds keeps
    its own row and full trace.json); returns how many were added."""
    added = 0
    with Store(eval_dir / "results.sqlite") as store:
        held = store.run_dirs()
        for entry in archived(archive):
            row = JobResult(**entry["row"])
            if row.key in held:
                continue
            trace = eval_dir / row.run_dir / "trace.json"
            trace.parent.mkdir(parents=True, exist_ok=True)
            trace.write_text(json.dumps(entry["trace"]), encoding="utf-8")
            if entry["config"] is not None:
                store.add_config(row.config_hash, row.config, entry["config"])
            added += store.add(row)
    return added


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, first, second in (("save", "eval_dir", "archive"), ("load", "archive", "eval_dir")):
        command = sub.add_parser(name)
        command.add_argument(first, type=Path)
        command.add_argument(second, type=Path)
    args = parser.parse_args(argv)
    if args.command == "save":
        if not (args.eval_dir / "results.sqlite").is_file():
            parser.error(f"{args.eval_dir}: no results.sqlite; give the --out of an f2g eval run")
        print(f"{save(args.eval_dir, args.archive)} new jobs archived in {args.archive}")
    else:
        if not shards(args.archive):
            parser.error(f"{args.archive}: no *.jsonl.gz shards; give a directory `save` wrote")
        print(f"{load(args.archive, args.eval_dir)} jobs restored into {args.eval_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
