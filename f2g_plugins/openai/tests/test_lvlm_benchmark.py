"""benchmarks/lvlm_latency.py runs and overlaps the calls of each step (the timing bound is the script's own verdict,
which depends on the machine's load: ``--report-only`` prints it without turning it into the exit code, so any
non-zero exit here is a crash)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "benchmarks" / "lvlm_latency.py"


@pytest.mark.skipif(not SCRIPT.is_file(), reason="benchmarks/ is in the repository, not in the installed plugin")
def test_latency_benchmark_reports_overlap():
    args = ["--n", "4", "--guided", "2", "--latency", "0.25", "--steps", "6", "--report-only"]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    concurrent = re.search(r"concurrent .*; (\d+) requests, at most (\d+) in flight", out)
    sequential = re.search(r"sequential .*; at most (\d+) in flight", out)
    assert concurrent and sequential, out
    assert int(concurrent[1]) == 2 * 4  # n·K calls
    assert int(concurrent[2]) == 4  # the 4 candidates of a step were in flight together
    assert int(sequential[1]) == 1  # max_concurrency 1: one call after another
    assert re.search(r"bound reward ≤ 1.3 × K × latency = [\d.]+ s: (met|MISSED)", out)
