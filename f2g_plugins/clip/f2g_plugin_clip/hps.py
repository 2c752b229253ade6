"""The ``hps`` reward: Human Preference Score v2 / v2.1 (HPSv2), an open_clip ViT-H-14 fine-tuned on human choices.

HPSv2 differs from plain CLIP in three ways that matter for faithful scores, all reproduced here: its own
checkpoint (``xswu/HPSv2`` on the Hugging Face hub), a preprocessing that resizes the *longest* side and pads to a
square (instead of cropping the centre; it resizes the float tensor, antialiased), and a score that is the plain
cosine similarity (about 0.2–0.35 for real images), not scaled by the logit scale. ``tests/test_hps_parity.py``
checks all three against the reference ``hpsv2`` package (golden values from ``scripts/make_hps_golden.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from f2g_torch_utils.checkpoints import download_checkpoint, load_strict, read_state_dict
from f2g_torch_utils.frames import FrameRewardOptions
from pydantic import Field

from f2g_plugin_clip.clip_reward import ClipComponents, ClipReward, _check_architecture

if TYPE_CHECKING:
    import torch
    from PIL import Image

HUB_REPO = "xswu/HPSv2"
FILES = {"v2.0": "HPS_v2_compressed.pt", "v2.1": "HPS_v2.1_compressed.pt"}


class HPSReward(ClipReward):
    """Human Preference Score v2/v2.1 of each key frame (open_clip ViT-H-14 with the HPSv2 checkpoint)."""

    name = "hps"

    class Options(FrameRewardOptions):
        version: Literal["v2.0", "v2.1"] = Field("v2.1", description="Which published HPS checkpoint to download.")
        checkpoint: str | None = Field(
            None, description=f"Local HPS checkpoint file; None downloads the version's file from {HUB_REPO}."
        )
        model: str = Field(
            "ViT-H-14", description="open_clip architecture of the checkpoint (HPSv2 is ViT-H-14; change for tests)."
        )
        scale: float | None = Field(1.0, description="Multiplier of the cosine; HPSv2 reports the plain cosine.")
        cache_dir: str | None = Field(None, description="Hugging Face cache folder for the downloaded checkpoint.")

    def checkpoint_path(self) -> str:
        """The local checkpoint: the configured file, or the published one fetched from the hub (cached)."""
        if self.options.checkpoint:
            return str(self.options.checkpoint)
        filename = FILES[self.options.version]
        return download_checkpoint(HUB_REPO, filename, what="hps", cache_dir=self.options.cache_dir)

    def build(self) -> ClipComponents:
        from f2g_torch_utils.compat import ensure_torchvision

        ensure_torchvision()
        import open_clip

        _check_architecture(self.options.model)
        path = self.checkpoint_path()
        state = read_state_dict(path, what="hps")  # read first: a missing file fails before building a 1B model
        model = open_clip.create_model(self.options.model, pretrained=None)
        load_strict(model, state, what="hps", source=path)
        cfg = open_clip.get_model_preprocess_cfg(model)
        preprocess = LongestSideResize(_size(cfg["size"]), tuple(cfg["mean"]), tuple(cfg["std"]))
        return ClipComponents(model, preprocess, open_clip.get_tokenizer(self.options.model), default_scale=1.0)


def _size(size: Any) -> int:
    return int(size if isinstance(size, int) else max(size))


class LongestSideResize:
    """HPSv2's evaluation transform (``hpsv2`` package): to a [0, 1] tensor, bicubic resize (antialiased) of the
    longest side to ``size``, zero padding to a centred square, then normalisation. (HPSv2 skips the padding when
    the longest side already equals ``size``, which breaks batching of non-square frames; we always pad —
    identical on every other input.)
    """

    def __init__(self, size: int, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.size, self.mean, self.std = size, mean, std

    def __call__(self, image: Image.Image) -> torch.Tensor:
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as F

        tensor = F.to_tensor(image.convert("RGB"))
        height, width = tensor.shape[1:]
        scale = self.size / float(max(height, width))
        new_h, new_w = round(height * scale), round(width * scale)
        if (new_h, new_w) != (height, width):
            tensor = F.resize(tensor, [new_h, new_w], InterpolationMode.BICUBIC, antialias=True)
        pad_h, pad_w = self.size - new_h, self.size - new_w
        if pad_h or pad_w:
            tensor = F.pad(tensor, [pad_w // 2, pad_h // 2, pad_w - pad_w // 2, pad_h - pad_h // 2], fill=0)
        return F.normalize(tensor, list(self.mean), list(self.std))
