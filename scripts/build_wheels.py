"""Build an sdist and a wheel of every f2g distribution and check them with ``twine check --strict``.

    python scripts/build_wheels.py                      # every package into dist/, isolated builds
    python scripts/build_wheels.py --only f2g-core f2g-plugin-shapes --out /tmp/wheels
    python scripts/build_wheels.py --no-isolation       # reuse this environment's setuptools (fast, offline)

``python -m build`` builds the sdist first and the wheel from it, so a file missing from the sdist (LICENSE,
package data) breaks the wheel here rather than for a user. Prints the seconds each package took.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from distributions import ROOT, Distribution, distributions


def build(dist: Distribution, out: Path, isolation: bool = True) -> list[Path]:
    """Build ``dist`` into ``out``; return its sdist and wheel (raises CalledProcessError with build's output)."""
    before = set(out.glob("*"))
    command = [sys.executable, "-m", "build", "--outdir", str(out), str(dist.path)]
    if not isolation:
        command.insert(3, "--no-isolation")
    subprocess.run(command, check=True, capture_output=True, text=True)
    made = sorted(set(out.glob("*")) - before)
    stem = dist.name.replace("-", "_")
    artifacts = [p for p in made if p.name.startswith(f"{stem}-{dist.version}")]
    if not any(p.suffix == ".whl" for p in artifacts) or not any(p.name.endswith(".tar.gz") for p in artifacts):
        raise RuntimeError(f"{dist.name}: build made {[p.name for p in made]}, expected an sdist and a wheel")
    return artifacts


def twine_check(files: list[Path]) -> None:
    """``twine check --strict``: the long description renders and the metadata is complete."""
    subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, files)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--only", nargs="*", help="distribution names (default: all)")
    parser.add_argument("--no-isolation", action="store_true", help="build with this environment's setuptools")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    chosen = [d for d in distributions() if not args.only or d.name in args.only]
    unknown = set(args.only or ()) - {d.name for d in chosen}
    if unknown:
        sys.exit(f"unknown distribution(s) {sorted(unknown)}; known: {[d.name for d in distributions()]}")
    total = time.perf_counter()
    for dist in chosen:
        start = time.perf_counter()
        try:
            files = build(dist, args.out, isolation=not args.no_isolation)
        except subprocess.CalledProcessError as error:
            sys.exit(f"{dist.name}: python -m build failed:\n{error.stdout}\n{error.stderr}")
        twine_check(files)
        sizes = ", ".join(f"{p.name} ({p.stat().st_size / 1e3:.0f} kB)" for p in files)
        print(f"{dist.name} {dist.version}: {time.perf_counter() - start:.1f} s  {sizes}", flush=True)
    print(f"built {len(chosen)} distributions into {args.out} in {time.perf_counter() - total:.1f} s")


if __name__ == "__main__":
    main()
