from f2g_core.lvlm.pytest_fixtures import lvlm_batch, lvlm_env, lvlm_server  # noqa: F401
