from f2g_lvlm.testing import lvlm_batch, lvlm_env, lvlm_rewards, lvlm_server  # noqa: F401
