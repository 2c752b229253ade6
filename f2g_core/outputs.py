"""Writing a run directory: the video (mp4, gif), the key-frame grid, the resolved config and the trace.

Nothing finished is lost and nothing half-written looks finished: the output folder is checked (``~`` expanded,
created, probed for writing) before any model loads; a run is written into a hidden staging folder
(``.f2g-partial-*``) and renamed to its final, unique name only once complete (``rename`` refuses a non-empty
target, so concurrent processes never share a name); a save that fails keeps the video and says where it is.
A Ctrl-C while saving waits until the run directory is complete (a signal landing inside an encoder's finaliser
would otherwise be swallowed), then interrupts. Videos are encoded deterministically: the same frames give the
same bytes on any machine with the same libraries (one encoder thread, fixed options, no timestamps).
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np

from f2g_core.config import dump_yaml
from f2g_core.errors import ConfigError, F2GError
from f2g_core.images import key_frame_grid, to_uint8

STAGING_PREFIX = ".f2g-partial-"


class SaveError(F2GError):
    """Writing a run directory failed after generation; the message says where the video was kept."""


def prepare_output_dir(parent: str | Path, setting: str = "output.dir") -> Path:
    """``parent`` with ``~`` expanded, created and proven writable; else a ConfigError naming ``setting``."""
    path = Path(parent).expanduser()
    try:
        if path.exists() and not path.is_dir():
            raise ConfigError(f"{setting}: {str(path)!r} is a file, not a folder; choose a folder for run directories")
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise ConfigError(
            f"{setting}: cannot write run directories into {str(path)!r} ({error.strerror or error}); "
            "choose a writable folder (--out DIR or output.dir)"
        ) from None
    return path


def run_stem(prompt: str, seed: int) -> str:
    """``<time>-<prompt slug>-s<seed>``: the name of a run directory before any de-duplicating suffix."""
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:48] or "run"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}-s{seed}"


def _publish(staging: Path, parent: Path, stem: str) -> Path:
    """Rename the complete ``staging`` folder to the first free ``stem``, ``stem-2``, … (atomic, race-free)."""
    for counter in itertools.count(1):
        candidate = parent / (stem if counter == 1 else f"{stem}-{counter}")
        try:
            os.rename(staging, candidate)
        except OSError as error:
            if error.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                continue
            raise
        return candidate
    raise AssertionError("unreachable")


def _rescue(video: np.ndarray, staging: Path) -> Path | None:
    """Keep the frames as ``video.npy`` (no codec involved): in the staging folder, else the temp folder."""
    # the temp folder is made only when the staging folder cannot take the frames: made eagerly, every failed save
    # left an empty f2g-rescued-* folder behind
    for folder in (lambda: staging, lambda: Path(tempfile.mkdtemp(prefix="f2g-rescued-"))):
        try:
            target = folder() / "video.npy"
            np.save(target, np.asarray(video))
            return target
        except OSError:
            continue
    return None


def save_run(
    parent: str | Path,
    prompt: str,
    seed: int,
    video: np.ndarray,
    key_frames: Sequence[int],
    config: Mapping[str, Any],
    trace: Mapping[str, Any],
    formats: Sequence[str] = ("mp4", "gif"),
    fps: int = 8,
) -> tuple[Path, dict[str, Path]]:
    """Write a complete run directory under ``parent`` atomically; returns it and its files by kind.

    Ctrl-C while saving is held back until the run directory is published, then raised (the run is complete);
    a KeyboardInterrupt raised some other way removes the staging folder (nothing half-written remains); any other
    failure raises :class:`SaveError` naming the file that still holds the video.
    """
    folder = prepare_output_dir(parent)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder))
    try:
        with interrupts_deferred():
            written = write_run(staging, video, key_frames, config, trace, formats=formats, fps=fps)
            directory = _publish(staging, folder, run_stem(prompt, seed))
    except KeyboardInterrupt:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    except Exception as error:
        rescued = _rescue(video, staging)
        kept = f"the video is kept in {rescued} (numpy.load it)" if rescued else "the video could not be kept"
        raise SaveError(f"saving the run into {folder} failed ({type(error).__name__}: {error}); {kept}") from error
    return directory, {kind: directory / path.name for kind, path in written.items()}


def save_failed_run(
    parent: str | Path, prompt: str, seed: int, config: Mapping[str, Any], trace: Mapping[str, Any]
) -> Path:
    """Write the run directory of a video whose run failed (``<stem>-failed``: config.yaml and trace.json, whose
    ``failure`` names the step; no video) atomically, like :func:`save_run`; a failure raises :class:`SaveError`."""
    folder = prepare_output_dir(parent)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder))
    try:
        with interrupts_deferred():
            (staging / "config.yaml").write_text(dump_yaml(config), encoding="utf-8")
            (staging / "trace.json").write_text(json.dumps(trace, indent=1), encoding="utf-8")
            return _publish(staging, folder, f"{run_stem(prompt, seed)}-failed")
    except KeyboardInterrupt:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    except Exception as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise SaveError(
            f"saving the failed run's trace into {folder} failed ({type(error).__name__}: {error})"
        ) from error


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) back until the block ends, then raise KeyboardInterrupt.

    Saving runs finalisers (the MP4 writer's); a KeyboardInterrupt raised inside one is printed as "Exception
    ignored" and lost, so the command would finish with exit 0. Only the main thread can handle signals; elsewhere
    (and when another handler is installed) the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    received: list[int] = []
    signal.signal(signal.SIGINT, lambda number, frame: received.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if received:
        raise KeyboardInterrupt


def _even(frames: np.ndarray) -> np.ndarray:
    """Pad height and width to even sizes by repeating the edge: H.264 in yuv420p needs even dimensions."""
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if not (pad_h or pad_w):
        return frames
    return np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")


def write_video(path: Path, video: np.ndarray, fps: int) -> Path:
    """Write (F, H, W, 3) frames in [0, 1] (or uint8) as mp4 (H.264 via PyAV) or gif (Pillow), by suffix."""
    frames = to_uint8(np.asarray(video))
    if path.suffix == ".mp4":
        _write_mp4(path, _even(frames), fps)
    elif path.suffix == ".gif":
        iio.imwrite(path, frames, duration=1000.0 / fps, loop=0, plugin="pillow")
    else:
        raise ValueError(f"unsupported video format {path.suffix!r}")
    return path


MP4_OPTIONS = {"crf": "18", "preset": "medium", "threads": "1", "flags": "+bitexact"}
"""x264 settings. One thread: x264's output depends on its thread count, which it would take from the CPUs the
process may use, so the same video could have different bytes on another machine or under another load."""


def _write_mp4(path: Path, frames: np.ndarray, fps: int) -> None:
    """H.264 (yuv420p) in MP4, byte-for-byte reproducible: one encoder thread, fixed options, bit-exact muxing."""
    import av

    with av.open(str(path), mode="w", format="mp4", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("libx264", rate=fps, options=dict(MP4_OPTIONS))
        stream.height, stream.width = int(frames.shape[1]), int(frames.shape[2])
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(stream.encode(None))


def write_run(
    directory: Path,
    video: np.ndarray,
    key_frames: Sequence[int],
    config: Mapping[str, Any],
    trace: Mapping[str, Any],
    formats: Sequence[str] = ("mp4", "gif"),
    fps: int = 8,
) -> dict[str, Path]:
    """Write every artefact of a run into ``directory``; returns them by kind."""
    written = {fmt: write_video(directory / f"video.{fmt}", video, fps) for fmt in formats}
    grid = directory / "grid.png"
    key_frame_grid(np.asarray(video)[list(key_frames)]).save(grid)
    written["grid"] = grid
    written["config"] = directory / "config.yaml"
    written["config"].write_text(dump_yaml(config), encoding="utf-8")
    written["trace"] = directory / "trace.json"
    written["trace"].write_text(json.dumps(trace, indent=1), encoding="utf-8")
    return written
