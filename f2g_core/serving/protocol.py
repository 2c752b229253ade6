"""The wire format between ``f2g serve reward`` and the ``remote`` reward: JSON, arrays as base64 of their bytes.

Why JSON and raw bytes rather than pickle: the server must never run code a request sends it, and the frames must
arrive bit for bit (a remote score equals the local one). A batch travels as its :class:`RewardBatch` fields —
prompt, frames (N, F, H, W, 3) float32 in [0, 1], their indices in a video of ``num_frames`` frames, the video's
``fps`` and the sampling step — so the reward builds whatever it scores from them (key frames, a grid, the
video) exactly as it would in-process. A NaN score travels as ``null``.

Endpoints (``PROTOCOL`` 1):

* ``GET /health``: ``{"status": "ok", "protocol", "f2g", "reward", "options", "python", "prefix", "trace_info"}``;
* ``POST /score``: a batch → ``{"scores": [...]}``;
* ``POST /check``: ``{"frame_indices", "num_frames"}`` → ``{"ok": true}`` or 422 with the reward's reason.

Every error answer is ``{"error": "one line"}`` with a 4xx (the request) or 5xx (the reward) status.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from f2g_core.interfaces import RewardBatch, StepInfo

PROTOCOL = 1


def encode_array(array: np.ndarray) -> dict[str, Any]:
    array = np.ascontiguousarray(array, dtype=np.float32)
    return {"dtype": "float32", "shape": list(array.shape), "data": base64.b64encode(array.tobytes()).decode()}


def decode_array(data: Mapping[str, Any]) -> np.ndarray:
    if data.get("dtype") != "float32":
        raise ValueError(f"frames dtype {data.get('dtype')!r}: only float32 is accepted")
    shape = tuple(int(n) for n in data["shape"])
    raw = base64.b64decode(data["data"], validate=True)
    if len(raw) != 4 * math.prod(shape):
        raise ValueError(f"frames hold {len(raw)} bytes, not the {4 * math.prod(shape)} of shape {shape}")
    return np.frombuffer(raw, dtype=np.float32).reshape(shape).copy()


def encode_batch(batch: RewardBatch) -> dict[str, Any]:
    return {
        "protocol": PROTOCOL,
        "prompt": batch.prompt,
        "frames": encode_array(batch.frames),
        "frame_indices": list(batch.frame_indices),
        "num_frames": batch.num_frames,
        "step": {"index": batch.step.index, "num_steps": batch.step.num_steps, "timestep": batch.step.timestep},
        "run": batch.run,
        "fps": batch.fps,
    }


def decode_batch(data: Mapping[str, Any]) -> RewardBatch:
    """A batch from its JSON; ``ValueError``/``KeyError``/``TypeError`` name what is malformed."""
    if data.get("protocol") != PROTOCOL:
        raise ValueError(f"protocol {data.get('protocol')!r}: this server speaks protocol {PROTOCOL}")
    step = data["step"]
    fps = data.get("fps")
    return RewardBatch(
        prompt=str(data["prompt"]),
        frames=decode_array(data["frames"]),
        frame_indices=tuple(int(i) for i in data["frame_indices"]),
        num_frames=int(data["num_frames"]),
        step=StepInfo(int(step["index"]), int(step["num_steps"]), float(step["timestep"])),
        run=int(data.get("run", 0)),
        fps=None if fps is None else float(fps),
    )


def encode_scores(scores: Sequence[float]) -> list[float | None]:
    return [float(s) if math.isfinite(float(s)) else None for s in scores]


def decode_scores(data: Any, count: int) -> list[float]:
    """Scores from a ``/score`` answer; ``ValueError`` when it is not ``count`` numbers or nulls."""
    scores = data.get("scores") if isinstance(data, Mapping) else None
    if not isinstance(scores, list) or len(scores) != count:
        raise ValueError(f"expected {{'scores': [{count} numbers]}}, got {str(data)[:80]!r}")
    out = []
    for score in scores:
        if score is None:
            out.append(math.nan)
        elif isinstance(score, int | float) and not isinstance(score, bool):
            out.append(float(score))
        else:
            raise ValueError(f"a score is {score!r}, not a number or null")
    return out
