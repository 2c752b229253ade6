"""The ``pickscore`` reward: PickScore v1, a CLIP ViT-H-14 fine-tuned on Pick-a-Pic human preferences.

PickScore is published as a Hugging Face ``transformers`` CLIPModel (``yuvalkirstain/PickScore_v1``) used with
the processor of ``laion/CLIP-ViT-H-14-laion2B-s32B-b79K``; its score is ``exp(logit_scale) · cos``. It reuses the
batching, caching and aggregation of :class:`~f2g_plugin_clip.clip_reward.ClipReward` through a small adapter
that gives the transformers model open_clip's ``encode_image`` / ``encode_text`` interface.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from f2g_torch_utils.frames import FrameRewardOptions
from pydantic import Field

from f2g_core.errors import ComponentError
from f2g_plugin_clip.clip_reward import ClipComponents, ClipReward, _logit_scale

if TYPE_CHECKING:
    import torch
    from PIL import Image


class PickScoreReward(ClipReward):
    """PickScore v1 of each key frame (transformers CLIP fine-tuned on Pick-a-Pic preferences)."""

    name = "pickscore"

    class Options(FrameRewardOptions):
        model: str = Field("yuvalkirstain/PickScore_v1", description="Hub id or local folder of the CLIP model.")
        processor: str = Field(
            "laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
            description="Hub id or local folder of the CLIP processor (tokenizer and image preprocessing).",
        )
        scale: float | None = Field(None, description="Multiplier of the cosine; None: the model's logit scale.")
        cache_dir: str | None = Field(None, description="Hugging Face cache folder.")

    def build(self) -> ClipComponents:
        from f2g_torch_utils.compat import ensure_torchvision

        ensure_torchvision()
        from transformers import CLIPModel, CLIPProcessor

        opts = self.options
        for what, source in (("model", opts.model), ("processor", opts.processor)):
            if _is_local(source) and not Path(source).expanduser().exists():
                raise ComponentError(f"pickscore: {what} folder {source!r} does not exist")
        try:
            loaded: Any = CLIPModel.from_pretrained(opts.model, cache_dir=opts.cache_dir, output_loading_info=True)
            model, info = loaded
            processor = CLIPProcessor.from_pretrained(opts.processor, cache_dir=opts.cache_dir)
        except Exception as error:  # offline, missing files, bad configs
            raise ComponentError(f"pickscore: cannot load {opts.model!r} / {opts.processor!r}: {error}") from error
        missing = [k for k in info.get("missing_keys", ()) if "position_ids" not in k]
        if missing:
            example = ", ".join(sorted(missing)[:5])
            raise ComponentError(f"pickscore: checkpoint {opts.model!r} lacks {len(missing)} weights (e.g. {example})")
        adapter = HFClipAdapter(model)
        return ClipComponents(adapter, _ImageProcessor(processor), _Tokenizer(processor), _logit_scale(model))


def _is_local(source: str) -> bool:
    """Hub ids look like ``org/name``; anything else with a separator (absolute, ./, ~/, deeper) is a path."""
    return source.startswith(("/", ".", "~")) or source.count("/") > 1 or "\\" in source


class HFClipAdapter:
    """Gives a transformers CLIPModel open_clip's ``encode_image`` / ``encode_text``."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.logit_scale = model.logit_scale

    def eval(self) -> HFClipAdapter:
        self.model.eval()
        return self

    def requires_grad_(self, flag: bool) -> HFClipAdapter:
        self.model.requires_grad_(flag)
        return self

    def to(self, *args: Any, **kwargs: Any) -> HFClipAdapter:
        self.model.to(*args, **kwargs)
        return self

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return _features(self.model.get_image_features(pixel_values=pixels))

    def encode_text(self, tokens: Any) -> torch.Tensor:
        ids, mask = tokens["input_ids"], tokens["attention_mask"]
        return _features(self.model.get_text_features(input_ids=ids, attention_mask=mask))


def _features(out: Any) -> torch.Tensor:
    """transformers 4 returns the projected features, 5 an output object carrying them as ``pooler_output``."""
    import torch

    return out if isinstance(out, torch.Tensor) else out.pooler_output


class _ImageProcessor:
    def __init__(self, processor: Any) -> None:
        self.processor = processor

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.processor(images=image, return_tensors="pt")["pixel_values"][0]


class _Tokenizer:
    def __init__(self, processor: Any) -> None:
        self.processor = processor

    def __call__(self, texts: list[str]) -> Any:
        return self.processor(text=texts, padding=True, truncation=True, max_length=77, return_tensors="pt")
