"""VideoScore's network on current transformers: Idefics2 with mantis-vl's regression head, and its checkpoint.

The reference (mantis-vl's ``Idefics2ForSequenceClassification``, written against transformers 4.4x) is Idefics2's
SigLIP vision tower, its connector (MLP projection + perceiver resampler to a fixed number of latents per frame)
and its Mistral text model, with a linear layer (with bias) ``score`` mapping the last hidden state to 5 outputs.
Here the same modules come from current transformers' Idefics2 classes and the forward is our own, because three
things the reference does differently from current transformers change results:

* **Where the head reads.** The reference reads the token *before the first* ``pad_token_id`` of each sequence
  (the checkpoint config's top-level ``pad_token_id``), or the last token when there is none; with no
  ``pad_token_id`` it reads the last token. Kept: :func:`read_positions`.
* **Vision position ids.** The reference maps each patch to one of the 70 × 70 learned positions with
  ``arange(0, 1 − 1e-6, 1 / n)`` fractional coordinates; current transformers multiplies indices by ``1 / n``
  instead, which rounds differently and can put a patch in the neighbouring bucket. Kept: :func:`patch_positions`.
* **The perceiver's norm epsilon.** The reference's resampler uses the *text* model's ``rms_norm_eps`` (1e-5 for
  Idefics2-8B); current transformers reads the perceiver config's own (default 1e-6) unless the hidden sizes
  differ. Set explicitly in :func:`build_network`.

Also as the reference: a patch counts as real when *any* of its pixels is (current transformers: all of them),
which matters only for frames of different sizes in one batch (never the case here: one video's frames share a
size); the vision tower runs a few frames at a time (the reference: 2), which changes nothing but memory.

Checkpoint layout (``TIGER-Lab/VideoScore-v1.1``): a transformers model folder: ``config.json`` (an
``Idefics2Config`` with ``num_labels`` 5, ``problem_type`` regression), sharded ``model-0000k-of-00004
.safetensors`` with keys ``model.vision_model.…``, ``model.connector.…``, ``model.text_model.…`` and
``score.weight`` / ``score.bias``, ``preprocessor_config.json`` / ``processor_config.json`` (image sizes, 64
image tokens per frame) and the tokenizer files. There is no language-model head.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from f2g_core.errors import ComponentError

if TYPE_CHECKING:
    import torch

WHAT = "videoscore"


def build_config(settings: dict[str, Any]) -> Any:
    """An ``Idefics2Config`` from ``config.json``'s dict, the perceiver's width and epsilon those of the text model
    (as the reference's perceiver reads them)."""
    from transformers import Idefics2Config

    skip = ("architectures", "transformers_version", "_name_or_path")
    settings = {k: v for k, v in settings.items() if k not in skip}
    text = settings.get("text_config") or {}
    perceiver = dict(settings.get("perceiver_config") or {})
    perceiver.update({k: text[k] for k in ("hidden_size", "rms_norm_eps") if k in text})
    config: Any = Idefics2Config(**{**settings, "perceiver_config": perceiver})
    config.perceiver_config.hidden_size = config.text_config.hidden_size
    config.perceiver_config.rms_norm_eps = config.text_config.rms_norm_eps
    return config


def build_network(config: Any, num_labels: int, pad_token_id: int | None, attn_implementation: str) -> Any:
    """An empty VideoScore network for an ``Idefics2Config`` (weights to be loaded)."""
    import torch
    from torch import nn
    from transformers import AutoModel
    from transformers.models.idefics2.modeling_idefics2 import Idefics2Connector, Idefics2VisionTransformer

    for sub in (config, config.vision_config, config.text_config, config.perceiver_config):
        sub._attn_implementation = attn_implementation

    class Backbone(nn.Module):
        """Idefics2's vision tower, connector and text model under the reference's attribute names."""

        def __init__(self) -> None:
            super().__init__()
            self.vision_model = Idefics2VisionTransformer._from_config(config.vision_config)
            self.connector = Idefics2Connector(config)
            self.text_model = AutoModel.from_config(config.text_config)

    class VideoScoreNetwork(nn.Module):
        """(B, num_labels) regression outputs for token ids with ``<image>`` placeholders and their frames."""

        def __init__(self) -> None:
            super().__init__()
            self.model = Backbone()
            self.score = nn.Linear(config.text_config.hidden_size, num_labels)
            self.image_token_id = int(config.image_token_id)
            self.pad_token_id = pad_token_id
            self.patch_size = int(config.vision_config.patch_size)
            self.side = int(config.vision_config.image_size) // self.patch_size

        def frame_features(self, pixels: torch.Tensor, frames_per_pass: int) -> torch.Tensor:
            """(N, latents, hidden) image tokens of N equal-sized frames (N, 3, H, W)."""
            vision = self.model.vision_model
            rows, cols = pixels.shape[-2] // self.patch_size, pixels.shape[-1] // self.patch_size
            positions = patch_positions(rows, cols, self.side).to(pixels.device)
            out = []
            for start in range(0, pixels.shape[0], frames_per_pass):
                chunk = pixels[start : start + frames_per_pass]
                patches = vision.embeddings.patch_embedding(chunk).flatten(2).transpose(1, 2)
                hidden = patches + vision.embeddings.position_embedding(positions)
                hidden = vision.encoder(inputs_embeds=hidden, attention_mask=None).last_hidden_state
                hidden = vision.post_layernorm(hidden)
                mask = torch.ones(hidden.shape[:2], dtype=torch.bool, device=hidden.device)
                out.append(self.model.connector(hidden, attention_mask=mask))
            return torch.cat(out)

        def forward(self, input_ids: torch.Tensor, pixel_values: torch.Tensor, frames_per_pass: int) -> torch.Tensor:
            """``input_ids`` (B, L) with the same number of image placeholders in each row, ``pixel_values``
            (B, F, 3, H, W); no padding (every row is one candidate of equal length)."""
            embeds = self.model.text_model.get_input_embeddings()(input_ids)
            features = self.frame_features(pixel_values.flatten(0, 1).to(embeds.dtype), frames_per_pass)
            mask = (input_ids == self.image_token_id).unsqueeze(-1).expand_as(embeds)
            if int(mask[..., 0].sum()) * embeds.shape[-1] != features.numel():
                raise ComponentError(f"{WHAT}: the prompt's image tokens do not match the frames' features")
            embeds = embeds.masked_scatter(mask, features.reshape(-1).to(embeds.dtype))
            hidden = self.model.text_model(inputs_embeds=embeds).last_hidden_state
            at = read_positions(input_ids, self.pad_token_id)
            rows = torch.arange(input_ids.shape[0], device=input_ids.device)
            return self.score(hidden[rows, at])

    return VideoScoreNetwork()


def patch_positions(rows: int, cols: int, side: int) -> torch.Tensor:
    """Learned-position index of each of a frame's ``rows`` × ``cols`` patches (row-major), as the reference maps
    them onto the ``side`` × ``side`` grid: fractional coordinates from ``arange(0, 1 − 1e-6, 1 / n)``, bucketed by
    ``arange(1 / side, 1, 1 / side)`` (right-closed)."""
    import torch

    boundaries = torch.arange(1 / side, 1.0, 1 / side)
    steps = [float(1 / torch.tensor(count)) for count in (rows, cols)]  # 1 / n rounded to float32, as there
    row, col = (torch.bucketize(torch.arange(0, 1 - 1e-6, step), boundaries, right=True) for step in steps)
    return (row[:, None] * side + col[None, :]).flatten()


def read_positions(input_ids: torch.Tensor, pad_token_id: int | None) -> torch.Tensor:
    """Per row, the token the head reads: the one before the first ``pad_token_id`` (the last when there is none,
    or when no padding id is configured), the reference's rule."""
    import torch

    length = input_ids.shape[-1]
    if pad_token_id is None:
        return torch.full((input_ids.shape[0],), length - 1, device=input_ids.device)
    first = (input_ids == pad_token_id).int().argmax(-1)
    return (first - 1) % length


def read_config(folder: Path) -> dict[str, Any]:
    """The checkpoint's ``config.json`` as a dict, checked to be the regression model VideoScore is."""
    path = folder / "config.json"
    try:
        settings = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ComponentError(f"{WHAT}: cannot read {str(path)!r} ({error}); is this a VideoScore folder?") from None
    if settings.get("model_type") != "idefics2":
        raise ComponentError(
            f"{WHAT}: {str(path)!r} is not an Idefics2 config (model_type {settings.get('model_type')!r})"
        )
    return settings
