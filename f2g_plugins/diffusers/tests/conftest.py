"""Shared fixtures: offline hub, quiet progress bars, and a helper to compare with the pipelines' own output."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub lookup would retry for ~45 s before failing

import pytest
import torch
from f2g_torch_utils.compat import ensure_torchvision

ensure_torchvision()


@pytest.fixture(autouse=True)
def _quiet_diffusers() -> None:
    from diffusers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


@pytest.fixture(autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(min(2, int(os.environ.get("OMP_NUM_THREADS", "2"))))  # xdist workers: 1 (conftest.py)
