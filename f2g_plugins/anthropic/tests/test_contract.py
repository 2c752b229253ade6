"""f2g's reward contract (f2g_core.contracts) on ``anthropic``, against the fake server on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import f2g_plugin_anthropic.plugin as plugin
import pytest
from f2g_plugin_anthropic import AnthropicReward

from f2g_core.contracts import RewardContract


class TestAnthropicContract(RewardContract):
    plugin = plugin
    component_id = "anthropic"

    @pytest.fixture
    def component(self, lvlm_env: Any, lvlm_server: Any, lvlm_rewards: Any) -> AnthropicReward:
        return lvlm_rewards(AnthropicReward, base_url=lvlm_server.anthropic_base_url, cache=False)
