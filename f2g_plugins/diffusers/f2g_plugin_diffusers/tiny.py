"""Tiny random-weight pipelines of every supported family, built offline from constructor arguments.

For tests (parity with diffusers' own pipelines), the batching benchmark and trying the plugin without
downloading weights. Sizes follow diffusers' fast tests. Tokenizers are made offline too: a small Unigram
T5-style tokenizer from the ``tokenizers`` library, the real CLIP BPE tokenizer rebuilt from open_clip's bundled
vocabulary, and a byte-level BPE stand-in for Llama. Everything is seeded, so one call gives one model.
"""

from __future__ import annotations

import functools
import gzip
import string
from pathlib import Path
from typing import Any

import torch
from f2g_torch_utils.compat import ensure_torchvision

_WORDS = [
    "a",
    "the",
    "of",
    "and",
    "in",
    "on",
    "with",
    "to",
    "is",
    "at",
    "by",
    "an",
    "for",
    "from",
    "red",
    "blue",
    "green",
    "cat",
    "dog",
    "car",
    "man",
    "woman",
    "walking",
    "running",
    "sitting",
    "sky",
    "sea",
    "beach",
    "city",
    "street",
    "night",
    "day",
    "sun",
    "snow",
    "water",
    "tree",
    "house",
    "video",
    "style",
    "photo",
    "cinematic",
]


def _eval(module: Any) -> Any:
    """Inference mode for a freshly built module (no dropout); typed loosely as diffusers' mixins confuse mypy."""
    return module.eval()


def _transformers() -> Any:
    ensure_torchvision()
    import transformers

    return transformers


@functools.cache
def t5_tokenizer() -> Any:
    """A T5/UMT5-style tokenizer (Unigram, Metaspace, ``</s>`` appended) with a few hundred pieces."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [(f"▁{w}", -2.0) for w in _WORDS]
    pieces += [("▁", -3.0)] + [(c, -5.0) for c in string.ascii_letters + string.digits + string.punctuation]
    tok = Tokenizer(models.Unigram(pieces, unk_id=2))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    fast = _transformers().PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    return fast


T5_VOCAB = 3 + len(_WORDS) + 1 + len(string.ascii_letters + string.digits + string.punctuation)


@functools.cache
def clip_tokenizer() -> Any:
    """The real CLIP BPE tokenizer (49408 ids), rebuilt from open_clip's bundled merges (ids match open_clip)."""
    import open_clip

    path = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"
    with gzip.open(path) as file:
        merges = file.read().decode("utf-8").split("\n")[1 : 49152 - 256 - 2 + 1]
    pairs = [tuple(m.split()) for m in merges]
    byte_chars = list(_bytes_to_unicode().values())
    vocab = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(p) for p in pairs]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return _transformers().CLIPTokenizer(vocab={v: i for i, v in enumerate(vocab)}, merges=pairs, model_max_length=77)


def _bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


@functools.cache
def llama_tokenizer() -> Any:
    """A byte-level BPE tokenizer with Llama-3's chat header tokens (for HunyuanVideo's prompt template)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {ch: i for i, ch in enumerate(_bytes_to_unicode().values())}
    specials = ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<pad>"]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(specials)
    return _transformers().PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>", pad_token="<pad>"
    )


def _umt5(d_model: int = 32) -> Any:
    tf = _transformers()
    config = tf.UMT5Config(
        vocab_size=T5_VOCAB,
        d_model=d_model,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        dropout_rate=0.0,
    )
    return tf.UMT5EncoderModel(config).eval()


def _t5(d_model: int = 32) -> Any:
    tf = _transformers()
    config = tf.T5Config(
        vocab_size=T5_VOCAB,
        d_model=d_model,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        dropout_rate=0.0,
    )
    return tf.T5EncoderModel(config).eval()


def _clip_text(hidden: int = 32, projection: int = 32) -> Any:
    tf = _transformers()
    config = tf.CLIPTextConfig(
        vocab_size=49408,
        hidden_size=hidden,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=projection,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
    )
    return tf.CLIPTextModel(config).eval()


def wan(height: int = 32, width: int = 32, seed: int = 0, width_mult: int = 1) -> Any:
    """A tiny WanPipeline (Wan 2.1 layout) with a FlowMatchEuler scheduler (shift 3)."""
    ensure_torchvision()
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel

    torch.manual_seed(seed)
    vae = AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
    )
    torch.manual_seed(seed)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12 * width_mult,
        in_channels=16,
        out_channels=16,
        text_dim=32,
        freq_dim=256,
        ffn_dim=32 * width_mult,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
    )
    torch.manual_seed(seed)
    return WanPipeline(
        tokenizer=t5_tokenizer(),
        text_encoder=_umt5(),
        vae=_eval(vae),
        transformer=_eval(transformer),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
    )


def cogvideox(
    height: int = 32, width: int = 32, num_frames: int = 9, seed: int = 0, rotary: bool = False, v15: bool = False
) -> Any:
    """A tiny CogVideoXPipeline with a v-prediction, zero-terminal-SNR, trailing DDIM scheduler (as 2B/5B ship).

    ``rotary``: 3D rotary positions (5B); ``v15``: CogVideoX 1.5 layout (temporal patch 2, rotary, no patch bias).
    """
    rotary = rotary or v15
    ensure_torchvision()
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXPipeline, CogVideoXTransformer3DModel

    torch.manual_seed(seed)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2,
        attention_head_dim=16 if rotary else 8,
        in_channels=4,
        out_channels=4,
        time_embed_dim=2,
        text_embed_dim=32,
        num_layers=1,
        sample_width=width // 8,
        sample_height=height // 8,
        sample_frames=num_frames,
        patch_size=2,
        temporal_compression_ratio=4,
        max_text_seq_length=16,
        use_rotary_positional_embeddings=rotary,
        patch_size_t=2 if v15 else None,
        patch_bias=not v15,
        use_learned_positional_embeddings=False,
    )
    torch.manual_seed(seed)
    vae = AutoencoderKLCogVideoX(
        in_channels=3,
        out_channels=3,
        down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=2,
        temporal_compression_ratio=4,
    )
    torch.manual_seed(seed)
    scheduler = CogVideoXDDIMScheduler(
        prediction_type="v_prediction",
        rescale_betas_zero_snr=True,
        timestep_spacing="trailing",
        snr_shift_scale=1.0,
        clip_sample=False,
        set_alpha_to_one=True,
    )
    return CogVideoXPipeline(
        tokenizer=t5_tokenizer(),
        text_encoder=_t5(),
        vae=_eval(vae),
        transformer=_eval(transformer),
        scheduler=scheduler,
    )


def ltx(seed: int = 0, timestep_conditioning: bool = False) -> Any:
    """A tiny LTXPipeline (VAE compresses space by 4 and time by 4; non-causal decoder, as LTX 0.9.0).

    ``timestep_conditioning``: the decoder of LTX 0.9.1+, which takes a timestep and decode noise.
    """
    ensure_torchvision()
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )

    torch.manual_seed(seed)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=32,
    )
    torch.manual_seed(seed)
    vae = AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=timestep_conditioning,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    vae_any: Any = vae
    vae_any.use_framewise_encoding = False
    vae_any.use_framewise_decoding = False
    torch.manual_seed(seed)
    return LTXPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(
            use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05, base_image_seq_len=1024, max_image_seq_len=4096
        ),
        vae=_eval(vae),
        text_encoder=_t5(),
        tokenizer=t5_tokenizer(),
        transformer=_eval(transformer),
    )


def _sd_vae(seed: int) -> Any:
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    vae = AutoencoderKL(
        block_out_channels=[8, 8],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4,
        norm_num_groups=2,
    )
    return _eval(vae)


def _sd_ddim(**overrides: Any) -> Any:
    from diffusers import DDIMScheduler

    config: dict[str, Any] = dict(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return DDIMScheduler(**{**config, **overrides})


def modelscope(seed: int = 0) -> Any:
    """A tiny TextToVideoSDPipeline (UNet3D, per-frame SD VAE with 2× downsampling, DDIM)."""
    ensure_torchvision()
    from diffusers import TextToVideoSDPipeline, UNet3DConditionModel

    torch.manual_seed(seed)
    unet = UNet3DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=2,
    )
    return TextToVideoSDPipeline(
        vae=_sd_vae(seed),
        text_encoder=_clip_text(),
        tokenizer=clip_tokenizer(),
        unet=_eval(unet),
        scheduler=_sd_ddim(),
    )


def animatediff(seed: int = 0) -> Any:
    """A tiny AnimateDiffPipeline (SD-style UNet2D + MotionAdapter, per-frame SD VAE, DDIM linear betas)."""
    ensure_torchvision()
    from diffusers import AnimateDiffPipeline, MotionAdapter, UNet2DConditionModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 8),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=2,
    )
    torch.manual_seed(seed)
    adapter = MotionAdapter(
        block_out_channels=(8, 8), motion_layers_per_block=1, motion_norm_num_groups=2, motion_num_attention_heads=4
    )
    return AnimateDiffPipeline(
        vae=_sd_vae(seed),
        text_encoder=_clip_text(),
        tokenizer=clip_tokenizer(),
        unet=unet,
        motion_adapter=adapter,
        scheduler=_sd_ddim(beta_schedule="linear", timestep_spacing="leading"),
    )


def hunyuan_video(seed: int = 0) -> Any:
    """A tiny HunyuanVideoPipeline (guidance-embedded transformer, Llama + CLIP encoders, causal 3D VAE)."""
    ensure_torchvision()
    from diffusers import (
        AutoencoderKLHunyuanVideo,
        FlowMatchEulerDiscreteScheduler,
        HunyuanVideoPipeline,
        HunyuanVideoTransformer3DModel,
    )

    tf = _transformers()
    torch.manual_seed(seed)
    transformer = HunyuanVideoTransformer3DModel(
        in_channels=4,
        out_channels=4,
        num_attention_heads=2,
        attention_head_dim=10,
        num_layers=1,
        num_single_layers=1,
        num_refiner_layers=1,
        patch_size=1,
        patch_size_t=1,
        guidance_embeds=True,
        text_embed_dim=16,
        pooled_projection_dim=32,
        rope_axes_dim=(2, 4, 4),
    )
    torch.manual_seed(seed)
    vae = AutoencoderKLHunyuanVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        down_block_types=("HunyuanVideoDownBlock3D",) * 4,
        up_block_types=("HunyuanVideoUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        act_fn="silu",
        norm_num_groups=4,
        scaling_factor=0.476986,
        spatial_compression_ratio=8,
        temporal_compression_ratio=4,
        mid_block_add_attention=True,
    )
    torch.manual_seed(seed)
    tokenizer = llama_tokenizer()
    llama = tf.LlamaModel(
        tf.LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=16,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=3,
            num_key_value_heads=4,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    ).eval()
    return HunyuanVideoPipeline(
        text_encoder=llama,
        tokenizer=tokenizer,
        transformer=_eval(transformer),
        vae=_eval(vae),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
        text_encoder_2=_clip_text(),
        tokenizer_2=clip_tokenizer(),
    )
