"""The local LVLM test server fixtures (``lvlm_server``, ``lvlm_env``) are opt-in: import them here."""

# --8<-- [start:conftest]
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from f2g_lvlm.testing import lvlm_env, lvlm_server  # the f2g-lvlm distribution (pip install f2g-lvlm)

__all__ = ["lvlm_env", "lvlm_server"]
# --8<-- [end:conftest]
