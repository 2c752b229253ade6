"""Output folders are checked before work; run directories appear complete or not at all; failed saves keep video."""

import multiprocessing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from f2g_core import outputs
from f2g_core.config import load_config
from f2g_core.errors import ConfigError, F2GError
from f2g_core.interfaces import Reward, RewardBatch
from f2g_core.pipeline import generate
from f2g_core.registry import Registry

pytestmark = pytest.mark.plugin_independent  # never loads the installed plugins (tests/conftest.py)

VIDEO = np.random.default_rng(0).random((4, 6, 6, 3)).astype(np.float32)


def _save(parent: Path, **kwargs: Any) -> tuple[Path, dict[str, Path]]:
    return outputs.save_run(parent, "a red circle", 3, VIDEO, [0, 3], {"seed": 3}, {"steps": []}, **kwargs)


def _visible(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if not p.name.startswith(".")]


class LoadRecorder(Reward):
    """Remembers whether any model was loaded."""

    name = "load-recorder"
    loaded = False

    def load(self) -> None:
        LoadRecorder.loaded = True

    def score(self, batch: RewardBatch) -> list[float]:
        return [0.0] * len(batch)


@pytest.mark.parametrize("kind", ["file", "proc"])
def test_a_bad_output_dir_fails_before_any_model_loads(
    f2g_registry: Registry, gmm_config: dict[str, Any], tmp_path: Path, kind: str
) -> None:
    f2g_registry.add("reward", LoadRecorder, plugin="test")
    LoadRecorder.loaded = False
    target = tmp_path / "a-file" if kind == "file" else Path("/proc/f2g-cannot-be-created")
    if kind == "file":
        target.write_text("not a folder")
    gmm_config["rewards"] = [{"type": "load-recorder"}]
    gmm_config["output"] = {"dir": str(target), "formats": ["gif"]}
    with pytest.raises(ConfigError, match=r"output\.dir"):
        generate(gmm_config, registry=f2g_registry)
    assert not LoadRecorder.loaded


def test_home_is_expanded_in_output_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    config = load_config({"backbone": {"type": "x"}, "output": {"dir": "~/runs"}, "guidance": {"method": "none"}})
    assert config.output.dir == tmp_path / "home" / "runs"
    directory, _ = _save(Path("~/runs"), formats=())
    assert directory.parent == tmp_path / "home" / "runs" and not (tmp_path / "~").exists()


def test_save_writes_everything_then_appears_under_its_final_name(tmp_path: Path) -> None:
    directory, files = _save(tmp_path, formats=("gif",))
    assert _visible(tmp_path) == [directory] and not list(tmp_path.glob(".f2g-partial-*"))
    assert sorted(p.name for p in directory.iterdir()) == ["config.yaml", "grid.png", "trace.json", "video.gif"]
    assert all(path.parent == directory and path.is_file() for path in files.values())


def test_ctrl_c_while_saving_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = outputs.write_video

    def interrupted(path: Path, video: np.ndarray, fps: int) -> Path:
        if path.suffix == ".gif":
            raise KeyboardInterrupt
        return real(path, video, fps)

    monkeypatch.setattr(outputs, "write_video", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _save(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_save_says_where_the_video_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(outputs.tempfile, "tempdir", str(temp))
    monkeypatch.setattr(outputs, "key_frame_grid", full_disk)
    with pytest.raises(F2GError, match="No space left") as failed:
        _save(tmp_path / "out")
    kept = Path(str(failed.value).split("the video is kept in ")[1].split(" (")[0])
    assert np.array_equal(np.load(kept), VIDEO)
    assert _visible(tmp_path / "out") == []  # the partial folder is hidden: nothing looks like a finished run
    assert list(temp.iterdir()) == []  # kept in the staging folder: no empty f2g-rescued-* folder in the temp dir


def test_a_save_whose_staging_folder_is_gone_keeps_the_video_in_the_temp_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def vanished(staging: Path, *args: Any, **kwargs: Any) -> None:
        staging.rmdir()
        raise OSError(2, "No such file or directory")

    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(outputs.tempfile, "tempdir", str(temp))  # never /tmp: a test leaves nothing behind
    monkeypatch.setattr(outputs, "write_run", vanished)
    with pytest.raises(F2GError, match="No such file") as failed:
        _save(tmp_path / "out")
    kept = Path(str(failed.value).split("the video is kept in ")[1].split(" (")[0])
    assert kept.parent.parent == temp and kept.parent.name.startswith("f2g-rescued-")
    assert np.array_equal(np.load(kept), VIDEO)


def _save_many(args: tuple[str, int]) -> list[str]:
    parent, count = args
    return [str(_save(Path(parent), formats=())[0]) for _ in range(count)]


def test_concurrent_saves_get_unique_directories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outputs.time, "strftime", lambda fmt: "20260101-000000")  # every save wants one name
    with multiprocessing.get_context("fork").Pool(6) as pool:
        names = [name for chunk in pool.map(_save_many, [(str(tmp_path), 20)] * 6) for name in chunk]
    assert len(names) == len(set(names)) == 120 == len(_visible(tmp_path))
