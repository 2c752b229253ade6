"""What the golden-value scripts of the video rewards (``scripts/make_golden.py`` of ``videoscore`` and
``videoreward``) share: their start (arguments, seeding, the plugin's ``tiny.py`` and ``testing.py`` run by path, an
empty output folder) and lossless test videos for the reference to read.

Those scripts run in the reference's own throwaway environment (old transformers, the reference's packages), where
f2g is not installed: they put this package's folder on ``sys.path`` and import this module, which needs only the
standard library, torch (through :mod:`f2g_torch_utils.compat`) and, to write videos, PyAV, all of which such an
environment has.
"""

from __future__ import annotations

import argparse
import fractions
import runpy
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class GoldenRun:
    """A golden-value script's start: where the reference checkout is, the emptied output folder, and the plugin's
    ``tiny.py`` and ``testing.py`` namespaces (run by path, so the plugin's own imports stay out)."""

    reference: Path
    out: Path
    tiny: dict[str, Any]
    testing: dict[str, Any]


def start_golden_run(description: str, reference: str, package: Path, module: Path, seed: int) -> GoldenRun:
    """Parse ``--reference`` (a checkout of ``reference``) and ``--out`` (default ``package/tests/golden``), make
    torchvision importable, seed torch, run ``module``'s ``tiny.py`` and ``testing.py`` and empty the output."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--reference", type=Path, required=True, help=f"checkout of {reference}")
    parser.add_argument("--out", type=Path, default=package / "tests" / "golden")
    args = parser.parse_args()

    from f2g_torch_utils.compat import ensure_torchvision  # before anything imports torchvision

    ensure_torchvision()
    import torch

    torch.manual_seed(seed)
    tiny = runpy.run_path(str(module / "tiny.py"))
    testing = runpy.run_path(str(module / "testing.py"))
    out = args.out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    return GoldenRun(reference=args.reference, out=out, tiny=tiny, testing=testing)


def write_lossless_video(path: Path, frames: np.ndarray, fps: float) -> None:
    """(T, H, W, 3) uint8 frames as PNG frames in AVI at ``fps``, so the reference decodes exactly these pixels."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("png", rate=fractions.Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "rgb24"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
