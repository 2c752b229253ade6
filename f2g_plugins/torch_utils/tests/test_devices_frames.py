"""Device/dtype resolution and the frame-reward helpers every model plugin shares."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from f2g_torch_utils.devices import resolve_device, resolve_dtype
from f2g_torch_utils.frames import FrameRewardOptions, TorchRewardOptions, aggregate_frames, finite_candidates
from pydantic import ValidationError


def test_auto_device_is_the_cpu_without_an_accelerator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("auto", mps=True) == torch.device("mps")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


def test_auto_device_prefers_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto", mps=True) == torch.device("cuda")


def test_dtypes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_dtype("bfloat16") is torch.bfloat16 and resolve_dtype("float16") is torch.float16
    assert resolve_dtype("auto", torch.device("cpu")) is torch.float32 and resolve_dtype(None) is torch.float32
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert resolve_dtype("auto", torch.device("cuda")) is torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert resolve_dtype("auto", torch.device("cuda")) is torch.bfloat16
    with pytest.raises(ValueError, match="unknown dtype 'float8'"):
        resolve_dtype("float8")


def test_options_validate_device_names_and_forbid_extras() -> None:
    assert FrameRewardOptions(device="cuda:0").device == "cuda:0"
    for bad in ({"device": "gpu"}, {"batch_size": 0}, {"aggregate": "max"}, {"devcie": "cpu"}):
        with pytest.raises(ValidationError):
            FrameRewardOptions(**bad)
    assert set(TorchRewardOptions.model_fields) < set(FrameRewardOptions.model_fields)


def test_aggregation_keeps_nan_candidates_nan() -> None:
    scores = np.array([[1.0, 3.0], [2.0, np.nan]])
    assert aggregate_frames(scores, "mean")[0] == 2.0 and np.isnan(aggregate_frames(scores, "mean")[1])
    assert aggregate_frames(scores, "min")[0] == 1.0 and aggregate_frames(scores, "sum")[0] == 4.0
    with pytest.raises(ValueError):
        aggregate_frames(scores, "max")
    frames = np.zeros((3, 2, 4, 4, 3), dtype=np.float32)
    frames[1, 1, 0, 0, 0] = np.inf
    assert finite_candidates(frames).tolist() == [True, False, True]


def test_import_is_light() -> None:
    import subprocess
    import sys

    code = "import sys, f2g_torch_utils.devices, f2g_torch_utils.checkpoints; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
