"""The seeded miniature VideoReward (``model: tiny``): same architecture, a few thousand parameters, built offline.

Shared by the reward (``model: tiny``), the tests and the golden-value script, which runs this file by path inside
the reference's own environment (transformers 4.45.2): so only the standard library is imported at module level,
and the ``tokenizers`` library inside :func:`build_tokenizer`.

The tokenizer is a word-level one made from the words of the reward prompt (plus the chat markers and a few common
words), with Qwen2-VL's special tokens; the three reward tokens are *not* in it, since the reference adds them at
load time (they get the last ids, as in the published checkpoint). The chat template renders a one-video user turn
exactly as Qwen2-VL-2B-Instruct's does.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<unk>",
)
"""Qwen2-VL's special tokens (and an unknown-word token the word-level tokenizer needs)."""

REWARD_TOKENS = ("<|VQ_reward|>", "<|MQ_reward|>", "<|TA_reward|>")
"""The tokens the reward head is read at, in the order of the dimensions (visual quality, motion, text alignment)."""

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""Qwen2-VL-Instruct's chat format (default system prompt, ChatML, vision markers) for text and video turns."""

COMMON_WORDS = (
    "You are a helpful assistant . system user assistant the an of in on and with to is red green blue yellow "
    "white black purple orange circle square triangle star moving left right up down above below next dog cat car "
    "runs walks person"
)
"""Words besides the prompt template's, so that short test prompts are not all unknown words."""

TEXT = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 4096,
    "rope_theta": 1000000.0,
    "rope_scaling": {"type": "mrope", "mrope_section": [1, 1, 2]},
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
}
"""Qwen2-VL-2B's text model shrunk: GQA (4 query, 2 key/value heads), M-RoPE sections summing to head_dim / 2."""

VISION = {
    "depth": 2,
    "embed_dim": 32,
    "hidden_size": 32,
    "hidden_act": "quick_gelu",
    "mlp_ratio": 2,
    "num_heads": 4,
    "in_channels": 3,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
}
"""Qwen2-VL's vision tower shrunk; patch 14, merge 2 and temporal patch 2 as published (they fix the pixel grid)."""

LORA = {"r": 4, "alpha": 8}
"""The miniature's LoRA rank and alpha (the published checkpoint: 64 and 128; the scale alpha / r is the same)."""


def vocabulary(template: str) -> list[str]:
    """Special tokens, then the sorted words of ``template`` and :data:`COMMON_WORDS` (reward tokens excluded)."""
    text = template
    for token in REWARD_TOKENS:
        text = text.replace(token, " ")
    words = set(re.findall(r"\w+|[^\w\s]+", text + " " + COMMON_WORDS))
    return [*SPECIAL_TOKENS, *sorted(words - set(SPECIAL_TOKENS))]


def build_tokenizer(template: str) -> Any:
    """A word-level ``tokenizers.Tokenizer`` over :func:`vocabulary` with Qwen2-VL's special tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {token: i for i, token in enumerate(vocabulary(template))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.add_special_tokens(list(SPECIAL_TOKENS))
    return core


def config_dict(vocab_size: int, token_ids: dict[str, int]) -> dict[str, Any]:
    """Keyword arguments of ``Qwen2VLConfig`` (the flat layout of Qwen2-VL-2B's config.json)."""
    return {
        **TEXT,
        "vocab_size": vocab_size,
        "vision_config": dict(VISION),
        "vision_start_token_id": token_ids["<|vision_start|>"],
        "vision_end_token_id": token_ids["<|vision_end|>"],
        "image_token_id": token_ids["<|image_pad|>"],
        "video_token_id": token_ids["<|video_pad|>"],
        "bos_token_id": token_ids["<|endoftext|>"],
        "eos_token_id": token_ids["<|im_end|>"],
        "pad_token_id": token_ids["<|endoftext|>"],
    }


def template_path() -> Path:
    """The reward prompt (the reference's ``detailed_special`` template), shipped next to this file."""
    return Path(__file__).with_name("prompt_detailed_special.txt")
