"""VideoReward's network on current transformers, and loading the published checkpoint layouts into it.

The reference (VideoAlign's ``Qwen2VLRewardModelBT``) is Qwen2-VL-2B with a bias-free linear head on the last hidden
states, read at three added tokens (``<|VQ_reward|>``, ``<|MQ_reward|>``, ``<|TA_reward|>``) that its prompt places
after each question. Only the vision tower, the text model and the head are kept here: the language-model head is
never used, so it is neither built nor loaded.

Quirk kept on purpose: the reference's own ``forward`` calls the text model without position ids, so every token,
video tokens included, gets the plain 1-D position 0, 1, 2, … on all three M-RoPE axes (Qwen2-VL's generation path
would give video tokens 3-D time/height/width positions instead). The checkpoint was trained that way; the port does
the same, which the parity test checks.

Checkpoint layouts (both written by the reference's trainer, read by its ``load_model_from_checkpoint``):

* ``checkpoint-N/model.pth``: the whole peft-wrapped state dict (``base_model.model.…``), LoRA factors unmerged
  (``….base_layer.weight``, ``….lora_A.default.weight``, ``….lora_B.default.weight``). The published
  ``KlingTeam/VideoReward`` is this one: the base model's weights are not needed, only its config and tokenizer.
* ``checkpoint-N/adapter_model.safetensors`` + ``non_lora_state_dict.pth`` on top of the base model's weights.

LoRA is merged at load (W + alpha / r · B A, or alpha / √r with rsLoRA), so scoring costs what the base model costs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from f2g_core.errors import ComponentError

if TYPE_CHECKING:
    import torch

WHAT = "videoreward"
PEFT_PREFIX = "base_model.model."
LORA_KEY = re.compile(r"^(?P<module>.+)\.lora_(?P<factor>[AB])(?:\.default)?\.weight$")


def build_network(config: Any, output_dim: int, attn_implementation: str) -> Any:
    """An empty VideoReward network for a ``Qwen2VLConfig`` (weights to be loaded)."""
    from torch import nn
    from transformers.models.qwen2_vl.modeling_qwen2_vl import (
        Qwen2VisionTransformerPretrainedModel,
        Qwen2VLTextModel,
    )

    class VideoRewardNetwork(nn.Module):
        """Qwen2-VL's vision tower and text model with the reward head read at the reward tokens."""

        def __init__(self) -> None:
            super().__init__()
            config.vision_config._attn_implementation = attn_implementation
            config.text_config._attn_implementation = attn_implementation
            self.visual = Qwen2VisionTransformerPretrainedModel._from_config(config.vision_config)
            self.language_model = Qwen2VLTextModel._from_config(config.text_config)
            self.rm_head = nn.Linear(config.text_config.hidden_size, output_dim, bias=False)
            self.video_token_id = int(config.video_token_id)

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            pixel_values: torch.Tensor,
            grid_thw: torch.Tensor,
            reward_token_ids: Sequence[int],
        ) -> torch.Tensor:
            """(B, 3) head outputs at the reward tokens (VQ, MQ, TA); with a 3-wide head, output k at token k."""
            import torch

            embeds = self.language_model.embed_tokens(input_ids)
            visual = self.visual(pixel_values.to(embeds.dtype), grid_thw=grid_thw).pooler_output
            mask = (input_ids == self.video_token_id).unsqueeze(-1).expand_as(embeds)
            embeds = embeds.masked_scatter(mask, visual.to(embeds.dtype))
            batch, length = input_ids.shape
            positions = torch.arange(length, device=input_ids.device).view(1, 1, -1).expand(3, batch, -1)
            hidden = self.language_model(
                inputs_embeds=embeds, attention_mask=attention_mask, position_ids=positions
            ).last_hidden_state
            rows = torch.arange(batch, device=input_ids.device)
            at = [(input_ids == token).int().argmax(dim=1) for token in reward_token_ids]
            logits = torch.stack([self.rm_head(hidden[rows, where]) for where in at], dim=1)  # (B, 3, out)
            if logits.shape[-1] == len(reward_token_ids):
                return logits.diagonal(dim1=1, dim2=2)
            return logits.reshape(batch, -1)

    return VideoRewardNetwork()


# ------------------------------------------------------------------------------------------------- checkpoints


def find_checkpoint(folder: Path, step: int | None) -> Path:
    """``checkpoint-<step>`` in ``folder``: the given step, else the latest (as the reference picks it)."""
    found = {int(p.name.split("-")[-1]): p for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()}
    if not found:
        raise ComponentError(f"{WHAT}: no checkpoint-<step> folder in {str(folder)!r}")
    if step is not None:
        if step not in found:
            raise ComponentError(f"{WHAT}: no checkpoint-{step} in {str(folder)!r} (have {sorted(found)})")
        return found[step]
    return found[max(found)]


def read_model_config(folder: Path) -> dict[str, Any]:
    """The reference's ``model_config.json`` (data, model, LoRA and normalisation settings)."""
    path = folder / "model_config.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        message = f"{WHAT}: cannot read {str(path)!r} ({error}); is this a VideoReward checkpoint folder?"
        raise ComponentError(message) from None
    if not isinstance(config, dict) or "model_config" not in config or "data_config" not in config:
        raise ComponentError(f"{WHAT}: {str(path)!r} lacks model_config / data_config: not a VideoReward config")
    return config


def canonical(key: str) -> str | None:
    """A key of transformers 4.45's ``Qwen2VLForConditionalGeneration`` (or 5's) as a key of our network."""
    key = key.removeprefix(PEFT_PREFIX).replace(".base_layer.", ".")
    for old, new in (("model.language_model.", "language_model."), ("model.visual.", "visual."), ("model.", "")):
        if key.startswith(old):
            key = new + key[len(old) :]
            break
    if key.startswith("lm_head."):
        return None
    if key.startswith(("layers.", "embed_tokens.", "norm.", "rotary_emb.")):
        return "language_model." + key
    return key


def merge_lora(
    state: dict[str, torch.Tensor], factors: Mapping[str, torch.Tensor], scale: float
) -> dict[str, torch.Tensor]:
    """``state`` with each LoRA pair in ``factors`` folded into its weight: W + scale · B A (in float32)."""
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in factors.items():
        match = LORA_KEY.match(key)
        if match is None:
            raise ComponentError(f"{WHAT}: unsupported LoRA tensor {key!r} (only linear-layer LoRA is supported)")
        pairs.setdefault(match["module"], {})[match["factor"]] = value
    merged = dict(state)
    for module, pair in pairs.items():
        target = canonical(module + ".weight")
        if set(pair) != {"A", "B"} or target is None or target not in merged:
            raise ComponentError(f"{WHAT}: LoRA factors of {module!r} have no matching weight or lack A or B")
        weight = merged[target]
        delta = scale * (pair["B"].float() @ pair["A"].float())
        merged[target] = (weight.float() + delta).to(weight.dtype)
    return merged


def lora_scale(peft: Mapping[str, Any]) -> float:
    """The factor LoRA's product is multiplied by: alpha / r, or alpha / √r with rsLoRA."""
    rank, alpha = float(peft.get("lora_r", 16)), float(peft.get("lora_alpha", 32))
    return alpha / rank**0.5 if peft.get("use_rslora") else alpha / rank


def split_lora(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(plain tensors under our names, LoRA factors) of a checkpoint's state dict."""
    plain: dict[str, torch.Tensor] = {}
    factors: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if ".lora_" in key:
            factors[key.removeprefix(PEFT_PREFIX)] = value
        elif (name := canonical(key)) is not None:
            plain[name] = value
    return plain, factors


def checkpoint_state(checkpoint: Path, base: Path | None, peft: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The merged weights of our network from a reference checkpoint folder, in either published layout."""
    from f2g_torch_utils.checkpoints import read_safetensors_folder, read_state_dict

    full = checkpoint / "model.pth"
    if full.is_file():
        plain, factors = split_lora(read_state_dict(full, what=WHAT))
    else:
        adapter = checkpoint / "adapter_model.safetensors"
        non_lora = checkpoint / "non_lora_state_dict.pth"
        if not adapter.is_file() or not non_lora.is_file():
            raise ComponentError(
                f"{WHAT}: {str(checkpoint)!r} holds neither model.pth nor adapter_model.safetensors + "
                "non_lora_state_dict.pth"
            )
        if base is None:
            raise ComponentError(f"{WHAT}: the LoRA layout of {str(checkpoint)!r} needs the base model's weights")
        plain, _ = split_lora(read_safetensors_folder(base, what=WHAT, label="base model folder "))
        trained, _ = split_lora(read_state_dict(non_lora, what=WHAT))
        plain.update(trained)
        factors = {k.removeprefix(PEFT_PREFIX): v for k, v in read_state_dict(adapter, what=WHAT).items()}
    return merge_lora(plain, factors, lora_scale(peft)) if factors else plain
