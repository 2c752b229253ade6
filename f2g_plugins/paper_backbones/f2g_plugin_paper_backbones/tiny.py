"""Random-weight miniatures of the paper's backbones (``model: tiny``): offline smoke runs, tests, benchmarks.

They are the parity-tested architectures at the sizes of :mod:`f2g_plugin_paper_backbones.testing` (every flag as
published, only widths and depths shrunk), with seeded weights and a small text tower on the real CLIP tokenizer.
"""

from __future__ import annotations

from f2g_plugin_paper_backbones.common import Networks
from f2g_plugin_paper_backbones.testing import (
    TINY_LAVIE_UNET,
    TINY_SD_VAE,
    TINY_VAE_DDCONFIG,
    TINY_VC2_UNET,
    seeded_state,
)

TINY_TEXT = {"width": 32, "heads": 2, "layers": 2, "embed_dim": 32}


def _seed(module: object, prefix: str = "") -> None:
    import torch

    assert isinstance(module, torch.nn.Module)
    state = module.state_dict()
    seeded = seeded_state({prefix + k: v for k, v in state.items()})
    module.load_state_dict({k: seeded[prefix + k] for k in state})
    module.eval()


def tiny_vae() -> object:
    """The tiny LDM autoencoder, seeded in the checkpoint's (LDM) names as the reference model is."""
    from f2g_plugin_paper_backbones.ldm_vae import LDMNamed, VAEConfig, build_vae

    cfg = TINY_VAE_DDCONFIG
    vae = build_vae(VAEConfig(ch=cfg["ch"], ch_mult=tuple(cfg["ch_mult"]), num_res_blocks=cfg["num_res_blocks"]))
    _seed(LDMNamed(vae, len(cfg["ch_mult"])), "first_stage_model.")
    return vae.eval()


def videocrafter2() -> Networks:
    """The tiny VideoCrafter2: lvdm UNet (fs, temporal conv and attention), 2× VAE, 2-layer OpenCLIP-style text."""
    from f2g_plugin_paper_backbones.lvdm_unet import LVDMUNet, LVDMUNetConfig
    from f2g_plugin_paper_backbones.openclip_text import OpenCLIPTextEncoder, TextConfig

    u = TINY_VC2_UNET
    unet = LVDMUNet(
        LVDMUNetConfig(
            model_channels=u["model_channels"],
            channel_mult=tuple(u["channel_mult"]),
            num_res_blocks=u["num_res_blocks"],
            attention_resolutions=tuple(u["attention_resolutions"]),
            num_head_channels=u["num_head_channels"],
            context_dim=u["context_dim"],
        )
    )
    _seed(unet, "model.diffusion_model.")
    text = OpenCLIPTextEncoder(TextConfig(**TINY_TEXT))
    _seed(text, "cond_stage_model.model.")
    return Networks(unet=unet, vae=tiny_vae(), text=text, scaling_factor=0.18215, vae_scale=2)


def lavie_unet() -> object:
    """The tiny LaVie UNet (the parity-tested configuration), seeded."""
    from f2g_plugin_paper_backbones.lavie_unet import LaVieUNet, LaVieUNetConfig

    u = TINY_LAVIE_UNET
    unet = LaVieUNet(
        LaVieUNetConfig(
            block_out_channels=tuple(u["block_out_channels"]),
            cross_attention=tuple(t.startswith("CrossAttn") for t in u["down_block_types"]),
            layers_per_block=u["layers_per_block"],
            heads=u["attention_head_dim"],
            cross_attention_dim=u["cross_attention_dim"],
        )
    )
    _seed(unet)
    return unet


def sd_vae() -> object:
    """A tiny diffusers ``AutoencoderKL`` with SD's architecture (2×), seeded."""
    from diffusers import AutoencoderKL

    vae = AutoencoderKL(**TINY_SD_VAE)
    _seed(vae)
    return vae


def lavie() -> Networks:
    """The tiny LaVie: inflated SD UNet with rotary + relative-position temporal attention, 2× VAE, tiny CLIP text."""
    from f2g_torch_utils.compat import ensure_torchvision

    ensure_torchvision()
    import transformers
    from f2g_plugin_diffusers.tiny import clip_tokenizer

    config = transformers.CLIPTextConfig(
        vocab_size=49408,
        hidden_size=TINY_LAVIE_UNET["cross_attention_dim"],
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
    )
    text = transformers.CLIPTextModel(config)
    _seed(text)
    return Networks(
        unet=lavie_unet(), vae=sd_vae(), text=text, scaling_factor=0.18215, vae_scale=2, tokenizer=clip_tokenizer()
    )
