"""The concept figures are drawn by a committed script; the committed SVGs are what it draws now."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures"


def test_figures_are_up_to_date(tmp_path: Path) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_figures.py"), "--out", str(tmp_path)], check=True)
    drawn = sorted(p.name for p in tmp_path.glob("*.svg"))
    assert drawn == sorted(p.name for p in FIGURES.glob("*.svg")) and drawn
    for name in drawn:
        committed = (FIGURES / name).read_text()
        assert name in "".join(p.read_text() for p in (ROOT / "docs").glob("*.md")), f"{name} is used by no page"
        made_by = re.search(r"Matplotlib v([\d.]+)", committed)
        if made_by and made_by.group(1) == matplotlib.__version__:  # byte-identical output needs the same version
            assert (tmp_path / name).read_text() == committed, f"docs/figures/{name} is stale: run make_figures.py"
