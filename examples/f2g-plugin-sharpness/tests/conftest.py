"""The local LVLM test server fixtures (``lvlm_server``, ``lvlm_env``) are opt-in: import them here."""

# --8<-- [start:conftest]
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

try:  # f2g 0.2: the LVLM base and its test server live in the f2g-lvlm distribution
    from f2g_lvlm.testing import lvlm_env, lvlm_server
except ImportError:  # f2g-core 0.1 layout
    from f2g_core.lvlm.pytest_fixtures import lvlm_env, lvlm_server

__all__ = ["lvlm_env", "lvlm_server"]
# --8<-- [end:conftest]
