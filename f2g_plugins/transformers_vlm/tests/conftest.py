import os

import pytest
from f2g_lvlm.testing import lvlm_batch  # noqa: F401

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session", params=["llava", "qwen2.5-vl"])
def tiny_vlm_dir(request, tmp_path_factory):
    """A tiny random checkpoint (LLaVA, then Qwen2.5-VL) saved to disk, built offline once per session."""
    from f2g_plugin_transformers_vlm.tiny import TINY_BUILDERS

    return TINY_BUILDERS[request.param](tmp_path_factory.mktemp(f"tiny-{request.param}"))
