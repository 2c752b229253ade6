import os

import pytest

from f2g_core.lvlm.pytest_fixtures import lvlm_batch  # noqa: F401

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_vlm_dir(tmp_path_factory):
    """A tiny random LLaVA checkpoint saved to disk, built offline once per session."""
    from f2g_plugin_transformers_vlm.tiny import build_tiny_llava

    return build_tiny_llava(tmp_path_factory.mktemp("tiny-llava"))
