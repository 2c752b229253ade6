"""f2g's reward contract (f2g_core.contracts) on ``openai``, against the fake server on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import f2g_plugin_openai.plugin as plugin
import pytest
from f2g_plugin_openai import OpenAIReward

from f2g_core.contracts import RewardContract


class TestOpenAIContract(RewardContract):
    plugin = plugin
    component_id = "openai"

    @pytest.fixture
    def component(self, lvlm_env: Any, lvlm_server: Any, lvlm_rewards: Any) -> OpenAIReward:
        return lvlm_rewards(OpenAIReward, base_url=lvlm_server.openai_base_url, model="fake-model", cache=False)
