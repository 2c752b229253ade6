"""Offline hub, quiet diffusers, two threads: the tests build tiny models only."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub lookup would retry for ~45 s before failing

import pytest
import torch
from f2g_torch_utils.compat import ensure_torchvision

ensure_torchvision()


@pytest.fixture(autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(min(2, int(os.environ.get("OMP_NUM_THREADS", "2"))))  # xdist workers: 1 (conftest.py)
