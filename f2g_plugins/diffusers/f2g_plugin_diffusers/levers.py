"""The speed and memory levers of a diffusers backbone, applied to a built pipeline through diffusers' own APIs.

LoRAs (``load_lora_weights``, optionally fused), quantisation configs for ``from_pretrained``, group offloading,
attention backends and regional ``torch.compile``. Each function does one lever; :class:`DiffusersBackbone` calls
them in the order diffusers expects: quantise while loading, LoRAs before placement (so offload hooks see the
adapted layers), attention backend and compilation last (compiled code captures the final modules).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from f2g_core.errors import ComponentError, ConfigError
from f2g_plugin_diffusers.options import CompileOptions, GroupOffloadOptions, LoraOptions, QuantizationOptions

if TYPE_CHECKING:
    import torch

DENOISERS = ("transformer", "transformer_2", "unet")
"""Pipeline components that run once per step and candidate: what is quantised, compiled and given a backend."""


def denoisers(pipe: Any) -> list[Any]:
    """The pipeline's denoiser modules (Wan 2.2 A14B has two experts)."""
    return [model for name in DENOISERS if (model := getattr(pipe, name, None)) is not None]


def load_loras(pipe: Any, loras: list[LoraOptions], fuse: bool, backbone: str) -> None:
    """Load every LoRA as its own adapter, set their scales, and fuse them into the weights when asked.

    After fusing, the adapter layers are unloaded: the weights keep the LoRA and each call costs what the base
    model's does. Unfused, peft adds ``scale · B(A(x))`` to each adapted layer on every call.
    """
    if not loras:
        return
    if not hasattr(pipe, "load_lora_weights"):
        raise ConfigError(f"backbone {backbone!r}: {type(pipe).__name__} has no diffusers LoRA loader; drop `lora`")
    names = []
    for index, lora in enumerate(loras):
        name = f"lora{index}"
        kwargs: dict[str, Any] = {"adapter_name": name}
        if lora.weight_name is not None:
            kwargs["weight_name"] = lora.weight_name
        if lora.into == "transformer_2":
            if getattr(pipe, "transformer_2", None) is None:
                raise ConfigError(f"lora[{index}]: into 'transformer_2' needs a Wan 2.2 A14B checkpoint (two experts)")
            kwargs["load_into_transformer_2"] = True
        try:
            pipe.load_lora_weights(lora.path, **kwargs)
        except (OSError, ValueError, KeyError) as error:
            raise ComponentError(
                f"lora[{index}] {lora.path!r} could not be loaded into backbone {backbone!r}: {error}. "
                "Give a hub id, folder or .safetensors file of a LoRA made for this model (and weight_name)."
            ) from error
        names.append(name)
    pipe.set_adapters(names, adapter_weights=[lora.scale for lora in loras])
    if fuse:
        pipe.fuse_lora(adapter_names=names)
        pipe.unload_lora_weights()


def torchao_type(name: str) -> Any:
    """The torchao config object for a short format name (validated by the options)."""
    from torchao.quantization import (
        Float8WeightOnlyConfig,
        Int4WeightOnlyConfig,
        Int8DynamicActivationInt8WeightConfig,
        Int8WeightOnlyConfig,
    )

    kinds = {
        "int8wo": Int8WeightOnlyConfig,
        "int8dq": Int8DynamicActivationInt8WeightConfig,
        "int4wo": Int4WeightOnlyConfig,
        "float8wo": Float8WeightOnlyConfig,
    }
    return kinds[name]()


def quantization_config(options: QuantizationOptions, dtype: torch.dtype, denoiser_names: tuple[str, ...]) -> Any:
    """diffusers' ``PipelineQuantizationConfig`` for ``from_pretrained``: the denoisers (``denoiser_names``: the
    components the option's 'transformer' stands for) through diffusers' config of the backend, the text encoder
    through transformers' (gguf is loaded separately: :func:`gguf_transformer`)."""
    import diffusers
    import transformers
    from diffusers.quantizers import PipelineQuantizationConfig

    mapping: dict[str, Any] = {}
    names = [
        name
        for component in options.components
        for name in (denoiser_names if component == "transformer" else [component])
    ]
    for component in names:
        library = transformers if component == "text_encoder" else diffusers
        if options.backend == "torchao":
            mapping[component] = library.TorchAoConfig(quant_type=torchao_type(options.quant_type))
        else:  # bitsandbytes
            bits: dict[str, Any] = {"load_in_8bit": True} if options.quant_type == "8bit" else {"load_in_4bit": True}
            if options.quant_type != "8bit":
                bits |= {"bnb_4bit_quant_type": "nf4" if options.quant_type == "4bit" else "fp4"}
                bits |= {"bnb_4bit_compute_dtype": dtype}
            mapping[component] = library.BitsAndBytesConfig(**bits)
    return PipelineQuantizationConfig(quant_mapping=mapping)


def gguf_transformer(pipeline_class: str, options: QuantizationOptions, model: str, dtype: torch.dtype) -> Any:
    """The transformer read from a single .gguf file, its weights kept quantised and computed in ``dtype``."""
    import diffusers
    from diffusers import GGUFQuantizationConfig

    classes = {"WanPipeline": "WanTransformer3DModel", "LTXPipeline": "LTXVideoTransformer3DModel"}
    classes |= {"HunyuanVideoPipeline": "HunyuanVideoTransformer3DModel"}
    if pipeline_class not in classes:
        raise ConfigError(f"quantization.backend 'gguf': no single-file transformer for {pipeline_class}")
    cls = getattr(diffusers, classes[pipeline_class])
    return cls.from_single_file(
        options.file,
        quantization_config=GGUFQuantizationConfig(compute_dtype=dtype),
        config=model,
        subfolder="transformer",
        dtype=dtype,
    )


def group_offload(pipe: Any, device: torch.device, options: GroupOffloadOptions) -> None:
    """diffusers' group offloading on every model component (weights on the CPU, moved in per group)."""
    import torch

    kwargs: dict[str, Any] = {"offload_type": options.offload_type, "use_stream": options.use_stream}
    if options.offload_type == "block_level":
        kwargs["num_blocks_per_group"] = options.blocks_per_group
    pipe.enable_group_offload(onload_device=device, offload_device=torch.device("cpu"), **kwargs)


def set_attention_backend(pipe: Any, name: str, backbone: str) -> None:
    """Route the denoisers' attention through one of diffusers' backends (name and package checked by the options)."""
    for model in denoisers(pipe):
        if not hasattr(model, "set_attention_backend"):
            raise ConfigError(f"attention_backend: backbone {backbone!r}'s {type(model).__name__} cannot switch it")
        try:
            model.set_attention_backend(name)
        except (RuntimeError, ImportError, ValueError) as error:
            raise ConfigError(f"attention_backend {name!r} cannot run here: {error}") from None


def compile_denoisers(pipe: Any, options: CompileOptions) -> None:
    """``torch.compile`` each denoiser in place: its repeated blocks (regional) where the model lists them, else
    the whole model. The compiled code is built lazily, at the first call."""
    kwargs: dict[str, Any] = {"mode": options.mode, "dynamic": options.dynamic, "fullgraph": options.fullgraph}
    kwargs["backend"] = options.backend
    if options.mode == "default":
        kwargs.pop("mode")  # torch rejects mode together with a non-inductor backend
    for model in denoisers(pipe):
        if options.regional and getattr(model, "_repeated_blocks", None):
            model.compile_repeated_blocks(**kwargs)
        else:
            model.compile(**kwargs)
