"""A rough estimate of the accelerator memory a diffusers backbone needs, without loading its weights.

Weights: every component's parameter count (from its config, built on the meta device, so nothing is read but
``config.json`` files; or from the modules when the pipeline is already built) times the bytes per parameter of
its dtype or quantised format. Activations of one candidate in a transformer call: the video's tokens times the
widths live at once in a block (attention in, out and residual, the FFN's hidden layer), for both CFG rows; the
attention matrix is never materialised (scaled_dot_product_attention's fused kernels). Decoding: the VAE's first
feature map at full resolution over the frames decoded at once. Good to about a factor 1.5 — enough to pick a
chunk size or see that a config cannot fit; the GPU figures in docs/backbones.md are the measured truth.
"""

from __future__ import annotations

from typing import Any

from f2g_core.interfaces import MemoryEstimate
from f2g_plugin_diffusers.options import DiffusersOptions

QUANT_BYTES = {"int8wo": 1.0, "int8dq": 1.0, "float8wo": 1.0, "int4wo": 0.5, "8bit": 1.0, "4bit": 0.5, "fp4": 0.5}
"""Bytes per quantised weight (scales and zero points add a few percent, not counted)."""
GGUF_BYTES = 0.6
"""A typical GGUF transformer (Q4_K_M ≈ 4.8 bits per weight)."""
LIVE_WIDTHS = 6
"""Hidden-width tensors alive at once in a transformer block: normed input, q, k, v, attention output, residual."""


def component_params(pipe: Any | None, pipeline_class: str, model: str, revision: str | None) -> dict[str, int]:
    """Parameters of each model component: counted on ``pipe`` when given, else built on the meta device from the
    checkpoint's configs (a local folder or the Hugging Face cache; offline is fine once cached)."""
    import torch

    if pipe is not None:
        return {
            name: sum(p.numel() for p in module.parameters())
            for name, module in pipe.components.items()
            if isinstance(module, torch.nn.Module)
        }
    import diffusers
    import transformers
    from accelerate import init_empty_weights

    index = getattr(diffusers, pipeline_class).load_config(model, revision=revision)
    counts = {}
    for name, spec in index.items():
        if not isinstance(spec, list | tuple) or spec[0] not in ("diffusers", "transformers") or name == "scheduler":
            continue
        library = diffusers if spec[0] == "diffusers" else transformers
        cls = getattr(library, spec[1], None)
        if cls is None or not hasattr(cls, "from_config" if library is diffusers else "config_class"):
            continue  # a tokenizer or processor: no weights
        with init_empty_weights():
            if library is diffusers:
                module = cls.from_config(cls.load_config(model, subfolder=name, revision=revision))
            else:
                module = cls(transformers.AutoConfig.from_pretrained(model, subfolder=name, revision=revision))
        if library is transformers:
            module.tie_weights()  # a tied embedding is one tensor (tying inside init_empty_weights does nothing)
        counts[name] = sum(p.numel() for p in module.parameters())
    return counts


def denoiser_config(pipe: Any | None, pipeline_class: str, model: str, revision: str | None) -> dict[str, Any]:
    """The transformer's config (the one all activation widths come from)."""
    if pipe is not None:
        return dict(pipe.transformer.config)
    import diffusers

    index = getattr(diffusers, pipeline_class).load_config(model, revision=revision)
    cls = getattr(diffusers, index["transformer"][1])
    return dict(cls.load_config(model, subfolder="transformer", revision=revision))


def estimate(
    options: DiffusersOptions,
    params: dict[str, int],
    transformer: dict[str, Any],
    tokens: int,
    decode_pixels: int,
    vae_width: int,
    cfg: bool,
) -> MemoryEstimate:
    """Assemble the estimate from parameter counts, the transformer's widths and the video's token count."""
    import torch
    from f2g_torch_utils.devices import resolve_device, resolve_dtype

    dtype = resolve_dtype(options.dtype, resolve_device(options.device))
    size = torch.empty((), dtype=dtype).element_size()
    vae_size = torch.empty((), dtype=resolve_dtype(options.vae_dtype or options.dtype)).element_size()
    quant = options.quantization
    per_param = {}
    for name in params:
        per_param[name] = float(vae_size if name == "vae" else size)
        quantised = quant is not None and (
            (name.startswith("transformer") and "transformer" in quant.components) or name in quant.components
        )
        if quantised and quant is not None:
            per_param[name] = GGUF_BYTES if quant.backend == "gguf" else QUANT_BYTES[quant.quant_type]
    weights = {name: int(count * per_param[name]) for name, count in params.items()}
    if options.text_encoder_offload:
        weights = {name: b for name, b in weights.items() if not name.startswith("text_encoder")}
    if options.offload == "model":
        resident = max(weights.values(), default=0)  # one component on the accelerator at a time
    elif options.offload in ("sequential", "group"):
        layers = int(transformer.get("num_layers", 1) or 1)
        resident = max(weights.values(), default=0) // layers  # about one block streamed in at a time
    else:
        resident = sum(weights.values())
    hidden = int(transformer.get("num_attention_heads", 1)) * int(transformer.get("attention_head_dim", 64))
    ffn = int(transformer.get("ffn_dim") or 4 * hidden)
    per_row = (2 if cfg else 1) * tokens * (LIVE_WIDTHS * hidden + ffn) * size
    decode = decode_pixels * vae_width * 4 * vae_size  # input, output and two working maps at full resolution
    return MemoryEstimate(weights=resident, per_row=per_row, decode=decode)
