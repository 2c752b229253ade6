"""``--export vbench``: the videos in the layout VBench's standard mode reads.

VBench (``vbench evaluate --videos_path DIR --dimension NAME``) looks up each prompt of a dimension as
``{prompt}-{index}.mp4`` with ``index`` 0–4. We write ``OUT/vbench/<config>/<dimension>/{prompt}-{index}.mp4``,
``index`` being the position of the seed in ``--seeds`` (so ``--seeds 0-4`` gives VBench's five videos), items
without a dimension under ``all``. Files are hard links to the run directories' MP4s where possible. A dimension
that is not a plain folder name (``/abs``, ``../x``: a downloaded suite can say anything) is made one, like item
ids (:func:`~f2g_eval.jobs.safe_component`), so nothing is written outside ``OUT/vbench``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from f2g_eval.jobs import JobResult, safe_component


def _place(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def export_vbench(out: Path, rows: Sequence[JobResult]) -> Path:
    """Write (link) every finished job's MP4; returns the export folder."""
    import imageio.v3 as iio
    from f2g_core.outputs import write_video

    root = out / "vbench"
    for row in rows:
        run = out / row.run_dir
        name = f"{row.prompt.replace('/', ' ')}-{row.seed_index}.mp4"
        mp4 = run / "video.mp4"
        if not mp4.is_file():  # the config wrote no MP4: make one from its GIF, once
            mp4 = write_video(run / "vbench.mp4", iio.imread(run / "video.gif", plugin="pillow")[..., :3], fps=8)
        for dimension in row.dimension.split(",") if row.dimension else ["all"]:
            _place(mp4, root / row.config / safe_component(dimension) / name)
    return root
