"""Options shared by every diffusers backbone, and the frame/size rules each family checks.

Each backbone's ``Options`` subclasses :class:`DiffusersOptions` and overrides defaults (hub id, size, frames) with
the field functions below, so every family's fields keep one description; families with a causal video VAE add
:class:`WindowDecodeOptions`. The rules are checked when the config is parsed, so a bad ``num_frames`` fails before
any weight is downloaded.
"""

from __future__ import annotations

import importlib.util
import itertools
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from f2g_core.interfaces import Backbone

DType = Literal["auto", "float32", "float16", "bfloat16"]
Offload = Literal["none", "model", "sequential", "group"]
DecodeMode = Literal["exact", "window"]


MODEL = "Hub id or local folder of a diffusers-format checkpoint."


def model_field(default: str, description: str = MODEL) -> Any:
    return Field(default, description=description)


def height_field(default: int, minimum: int = 8) -> Any:
    return Field(default, ge=minimum, description="Video height in pixels (a multiple of the family's size step).")


def width_field(default: int, minimum: int = 8) -> Any:
    return Field(default, ge=minimum, description="Video width in pixels (a multiple of the family's size step).")


def num_frames_field(default: int) -> Any:
    return Field(default, ge=1, description="Frames in the video (4k+1 or 8k+1 for causal video VAEs).")


def guidance_scale_field(default: float) -> Any:
    return Field(default, ge=0.0, description="Default CFG scale when the sampler block gives none.")


def max_sequence_length_field(default: int) -> Any:
    return Field(default, ge=1, description="Text tokens the encoder sees (longer is truncated).")


class LoraOptions(BaseModel):
    """One LoRA loaded through diffusers' own LoRA loader (``pipeline.load_lora_weights``; needs peft)."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, description="Hub id, local folder or .safetensors file of the LoRA.")
    weight_name: str | None = Field(None, description="The weights file inside `path` (a hub repo or folder).")
    scale: float = Field(1.0, description="Strength of the LoRA (0 = loaded but off).")
    into: Literal["transformer", "transformer_2"] = Field(
        "transformer", description="Wan 2.2 A14B: 'transformer_2' loads it into the low-noise expert."
    )


QuantBackend = Literal["torchao", "bitsandbytes", "gguf"]
QuantComponent = Literal["transformer", "text_encoder"]
TORCHAO_TYPES = ("int8wo", "int8dq", "int4wo", "float8wo")
"""torchao weight formats by short name: int8/int4 weight-only, int8 dynamic activations, float8 weight-only."""


class QuantizationOptions(BaseModel):
    """Quantised weights through diffusers' (and transformers') quantisation configs."""

    model_config = ConfigDict(extra="forbid")

    backend: QuantBackend = Field(
        description="'torchao' (CPU or GPU), 'bitsandbytes' (CUDA only) or 'gguf' (a single-file transformer)."
    )
    quant_type: str = Field(
        "int8wo",
        description="torchao: int8wo | int8dq | int4wo | float8wo; bitsandbytes: 8bit | 4bit (nf4) | fp4.",
    )
    components: list[QuantComponent] = Field(
        default_factory=lambda: list[QuantComponent](["transformer"]),
        description="What to quantise (gguf: the transformer only).",
    )
    file: str | None = Field(None, description="gguf: path or URL of the .gguf transformer file.")

    @model_validator(mode="after")
    def _check(self) -> QuantizationOptions:
        check_quantization(self)
        return self


def check_quantization(options: QuantizationOptions) -> None:
    """The backend's package is installed and its format and components make sense (bitsandbytes' CUDA need is
    checked with the backbone's device)."""
    package = {"torchao": "torchao", "bitsandbytes": "bitsandbytes", "gguf": "gguf"}[options.backend]
    if importlib.util.find_spec(package) is None:
        raise ValueError(
            f"quantization.backend {options.backend!r} needs the {package} package: "
            f"pip install {package} -c constraints.txt"
        )
    kinds = {"torchao": TORCHAO_TYPES, "bitsandbytes": ("8bit", "4bit", "fp4"), "gguf": ("gguf",)}[options.backend]
    if options.backend == "gguf":
        if not options.file:
            raise ValueError("quantization.backend 'gguf' needs quantization.file (the .gguf transformer file)")
        if options.components != ["transformer"]:
            raise ValueError("quantization.backend 'gguf' quantises only the transformer: components: [transformer]")
    elif options.quant_type not in kinds:
        raise ValueError(
            f"quantization.quant_type {options.quant_type!r} is not a {options.backend} format; use one of "
            f"{', '.join(kinds)}"
        )


class GroupOffloadOptions(BaseModel):
    """diffusers' group offloading (``offload: group``): weights stay on the CPU and move in per group of layers."""

    model_config = ConfigDict(extra="forbid")

    offload_type: Literal["block_level", "leaf_level"] = Field(
        "block_level", description="'block_level': groups of transformer blocks; 'leaf_level': single layers."
    )
    blocks_per_group: int = Field(1, ge=1, description="block_level: transformer blocks moved in together.")
    use_stream: bool = Field(False, description="Prefetch the next group on a CUDA stream (faster, needs CUDA).")


CompileMode = Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]


class CompileOptions(BaseModel):
    """``torch.compile`` of the denoiser: its repeated blocks only (fast to compile) or the whole model."""

    model_config = ConfigDict(extra="forbid")

    mode: CompileMode = Field("default", description="torch.compile mode.")
    regional: bool = Field(
        True,
        description="Compile each repeated transformer block (diffusers' compile_repeated_blocks) instead of the "
        "whole model: compiles once per block type, in seconds rather than minutes, and runs about as fast.",
    )
    dynamic: bool | None = Field(
        None,
        description="Shapes as symbols: true never recompiles when the candidate batch changes; None (torch's "
        "default) recompiles once, at the first new batch size, then treats the batch as dynamic.",
    )
    fullgraph: bool = Field(False, description="Fail instead of falling back to eager where a graph breaks.")
    backend: str = Field("inductor", description="torch.compile backend ('inductor'; 'eager' for debugging).")


CacheType = Literal["first-block", "faster", "taylorseer", "pab"]

CACHE_OPTIONS: dict[str, tuple[str, ...]] = {
    "first-block": ("threshold",),
    "faster": ("skip_range", "timestep_range"),
    "taylorseer": ("cache_interval", "warmup_calls", "max_order"),
    "pab": ("skip_range", "timestep_range"),
}
"""The options each cache type reads (besides ``type`` and ``use``)."""


class CacheOptions(BaseModel):
    """One of diffusers' feature caches on the denoiser, its state following the chains (see docs/backbones.md)."""

    model_config = ConfigDict(extra="forbid")

    type: CacheType = Field(
        description="first-block (FirstBlockCache: skip every block after the first when its output barely "
        "changed), faster (FasterCache), taylorseer (TaylorSeer: extrapolate block outputs), pab (Pyramid "
        "Attention Broadcast: reuse attention outputs)."
    )
    use: Literal["always", "drafts"] = Field(
        "always",
        description="always: every denoiser call runs under the cache; drafts: only the draft method's drafts do "
        "(guidance.options.draft_mode: backbone), the commits and everything else run without it.",
    )
    threshold: float = Field(
        0.05,
        ge=0.0,
        description="first-block: skip the remaining blocks when the first block's residual changed by less than "
        "this (relative mean absolute difference); 0 never skips.",
    )
    skip_range: int = Field(2, ge=1, description="pab / faster: compute attention every N-th call, reuse it between.")
    timestep_range: tuple[float, float] = Field(
        (100.0, 800.0), description="pab / faster: reuse attention only at model timesteps strictly inside (lo, hi)."
    )
    cache_interval: int = Field(5, ge=1, description="taylorseer: calls between full computations.")
    warmup_calls: int = Field(3, ge=0, description="taylorseer: first calls always computed in full.")
    max_order: int = Field(1, ge=0, le=4, description="taylorseer: order of the Taylor extrapolation.")

    @model_validator(mode="after")
    def _only_own_options(self) -> CacheOptions:
        foreign = sorted(self.model_fields_set - {"type", "use", *CACHE_OPTIONS[self.type]})
        if foreign:
            raise ValueError(
                f"cache: {', '.join(foreign)} do(es) not apply to type {self.type!r}; its options are "
                f"{', '.join(CACHE_OPTIONS[self.type])}"
            )
        return self


class DiffusersOptions(Backbone.Options):
    """Loading, precision, memory and video-size options common to all diffusers backbones."""

    model: str = model_field("")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit) to load.")
    variant: str | None = Field(None, description="Weight file variant, e.g. 'fp16'.")
    dtype: DType = Field("auto", description="Weights dtype; 'auto' = bfloat16 on CUDA, float32 on CPU.")
    vae_dtype: DType | None = Field(None, description="VAE dtype when it should differ from `dtype`.")
    device: str = Field("auto", description="'auto' (cuda if present, else cpu), 'cpu', 'cuda', 'cuda:1', ...")
    offload: Offload = Field(
        "none",
        description="'model': diffusers' model CPU offload (one component on the GPU at a time); "
        "'sequential': sub-module offload (slowest, least memory); 'group': diffusers' group offloading "
        "(see `group_offload`).",
    )
    group_offload: GroupOffloadOptions = Field(
        default_factory=GroupOffloadOptions, description="How `offload: group` moves weights."
    )
    text_encoder_offload: bool = Field(
        False,
        description="Move the text encoder to the CPU after each prompt is encoded (its weights, e.g. Wan's 5.7B "
        "UMT5, then take no accelerator memory while sampling); with offload 'none' only.",
    )
    lora: list[LoraOptions] = Field(
        default_factory=list, description="LoRAs to load, each {path, weight_name, scale, into} (needs peft)."
    )
    fuse_lora: bool = Field(
        False, description="Fuse the LoRAs into the weights after loading (no per-call LoRA cost; scales fixed)."
    )
    timesteps: list[float] | None = Field(
        None,
        description="Custom schedule: the model timestep of every step, decreasing (e.g. a distill's 8 steps); "
        "used as given, with σ = t / num_train_timesteps (flow models) or ᾱ at t (DDIM models).",
    )
    sigmas: list[float] | None = Field(
        None,
        description="Custom flow-matching schedule: σ of every step in (0, 1], decreasing, used as given (no "
        "shift); the timesteps are σ · num_train_timesteps unless `timesteps` is also given.",
    )
    quantization: QuantizationOptions | None = Field(
        None, description="Quantised weights: {backend: torchao|bitsandbytes|gguf, quant_type, components, file}."
    )
    compile: CompileOptions | None = Field(None, description="torch.compile of the denoiser: {mode, regional, ...}.")
    cache: CacheOptions | None = Field(
        None,
        description="Feature cache of the denoiser whose state follows the chains: {type: first-block|faster|"
        "taylorseer|pab, use: always|drafts, ...}.",
    )
    attention_backend: str | None = Field(
        None,
        description="diffusers attention backend of the denoiser (e.g. 'flash', '_flash_3', 'sage', "
        "'_native_cudnn'); None = PyTorch's scaled_dot_product_attention.",
    )
    vae_tiling: bool = Field(False, description="Decode in spatial tiles (less memory at high resolution).")
    vae_slicing: bool = Field(False, description="Decode one sample of a batch at a time.")
    height: int = height_field(480)
    width: int = width_field(832)
    num_frames: int = num_frames_field(81)
    negative_prompt: str | None = Field(None, description="Default negative prompt when the run gives none.")
    guidance_scale: float = guidance_scale_field(5.0)
    max_sequence_length: int = max_sequence_length_field(226)
    fps: float | None = Field(
        None,
        gt=0,
        description="Frame rate of the decoded video, handed to video rewards that sample frames by time "
        "(VideoReward, VideoScore2); unset: the family's own rate where it has one (Wan 16, CogVideoX 8, "
        "HunyuanVideo 24, LTX-Video its frame_rate), else none, and such rewards ask for it.",
    )

    # The rules of a family, overridden per subclass (class-level constants, not options).
    temporal_factor: ClassVar[int] = 1
    size_multiple: ClassVar[int] = 8
    flow_matching: ClassVar[bool] = True
    """False for the DDIM families: their levels come from a discrete ᾱ table, so only `timesteps` apply."""
    native_fps: ClassVar[float | None] = None
    """The rate the family's videos are made to play at (its authors' sampling scripts), None where not fixed."""
    cache_types: ClassVar[tuple[str, ...]] = ()
    """The `cache` types this family's denoiser supports (diffusers' CacheMixin and its block registry)."""
    cache_attention: ClassVar[str] = ""
    """A regular expression (``re.fullmatch``) naming the denoiser's attention modules, which TaylorSeer caches."""
    cache_tensor_format: ClassVar[str | None] = None
    """The layout of the denoiser's output FasterCache splits into frequencies (None: no FasterCache)."""

    @model_validator(mode="after")
    def _check_video_size(self) -> DiffusersOptions:
        check_video_size(self.height, self.width, self.num_frames, self.temporal_factor, self.size_multiple)
        return self

    @model_validator(mode="after")
    def _check_levers(self) -> DiffusersOptions:
        check_schedule(self.timesteps, self.sigmas, self.flow_matching)
        check_levers(self)
        return self


def check_schedule(timesteps: list[float] | None, sigmas: list[float] | None, flow_matching: bool) -> None:
    """A custom schedule is strictly decreasing, in range, and (given both) of one length."""
    if sigmas is not None:
        if not flow_matching:
            raise ValueError("sigmas: this model samples a discrete DDIM schedule; give `timesteps` instead")
        if not sigmas or any(not 0.0 < s <= 1.0 for s in sigmas):
            raise ValueError(f"sigmas: give one σ in (0, 1] per step; got {sigmas}")
        _decreasing("sigmas", sigmas)
    if timesteps is not None:
        if not timesteps or min(timesteps) < 0:
            raise ValueError(f"timesteps: give one timestep >= 0 per step; got {timesteps}")
        if not flow_matching and any(t != int(t) for t in timesteps):
            raise ValueError(f"timesteps: this DDIM model takes integer training timesteps; got {timesteps}")
        _decreasing("timesteps", timesteps)
    if sigmas is not None and timesteps is not None and len(sigmas) != len(timesteps):
        raise ValueError(f"timesteps ({len(timesteps)}) and sigmas ({len(sigmas)}) must list the same steps")


def _decreasing(name: str, values: list[float]) -> None:
    if any(b >= a for a, b in itertools.pairwise(values)):
        raise ValueError(f"{name}: must decrease strictly from noise to clean; got {values}")


def check_levers(options: DiffusersOptions) -> None:
    """What the speed and memory levers need, checked before anything loads: the packages, a CUDA device where
    only CUDA works, and combinations diffusers would reject later."""
    needs_cuda = []
    if options.quantization is not None and options.quantization.backend == "bitsandbytes":
        needs_cuda.append("quantization.backend 'bitsandbytes'")
    if options.offload == "group" and options.group_offload.use_stream:
        needs_cuda.append("group_offload.use_stream")
    if needs_cuda and not _cuda_device(options.device):
        raise ValueError(
            f"{needs_cuda[0]} needs a CUDA device (device is {options.device!r} and resolves to no GPU); "
            "use quantization.backend 'torchao' / use_stream: false on CPU"
        )
    if options.lora and importlib.util.find_spec("peft") is None:
        raise ValueError("lora: diffusers loads LoRAs through peft; pip install peft -c constraints.txt")
    if options.attention_backend is not None:
        check_attention_backend(options.attention_backend)
    if options.cache is not None:
        check_cache(options.cache, options.cache_types)
    if options.text_encoder_offload and options.offload != "none":
        raise ValueError(f"text_encoder_offload: offload {options.offload!r} already moves the text encoder; drop one")


def check_attention_backend(name: str) -> None:
    """The name is one of diffusers' attention backends and its package is installed (diffusers' own check)."""
    from f2g_torch_utils.compat import ensure_torchvision

    ensure_torchvision()
    from diffusers.models.attention_dispatch import AttentionBackendName, _check_attention_backend_requirements

    names = [backend.value for backend in AttentionBackendName]
    if name not in names:
        raise ValueError(
            f"attention_backend {name!r} is not a diffusers attention backend; use one of {', '.join(names)}"
        )
    try:
        _check_attention_backend_requirements(AttentionBackendName(name))
    except (RuntimeError, ImportError) as error:
        raise ValueError(f"attention_backend {name!r} cannot run here: {error}") from None


def check_cache(cache: CacheOptions, supported: tuple[str, ...]) -> None:
    """The family's denoiser supports the cache type and the installed diffusers has it."""
    if cache.type not in supported:
        offered = f"use one of {', '.join(supported)}" if supported else "drop `cache`"
        raise ValueError(f"cache type {cache.type!r} is not supported by this model's denoiser; {offered}")
    from f2g_torch_utils.compat import ensure_torchvision

    ensure_torchvision()
    import diffusers
    from diffusers import hooks

    from f2g_plugin_diffusers.caches import CONFIG_CLASSES

    if not hasattr(hooks, CONFIG_CLASSES[cache.type]):
        raise ValueError(
            f"cache type {cache.type!r} needs diffusers' {CONFIG_CLASSES[cache.type]}, which diffusers "
            f"{diffusers.__version__} lacks; pip install -U diffusers -c constraints.txt"
        )


def _cuda_device(device: str) -> bool:
    if not (device == "auto" or device.startswith("cuda")):
        return False
    import torch

    return bool(torch.cuda.is_available())


class WindowDecodeOptions(BaseModel):
    """How a causal video VAE decodes key frames: exactly, or as a fast preview."""

    decode_mode: DecodeMode = Field(
        "exact",
        description="'exact': key frames as the whole-video decode gives them (the shortest exact latent span); "
        "'window': a few latents before each key frame (a fast, approximate preview).",
    )
    window_context: int = Field(1, ge=1, description="Latent frames decoded before each key frame ('window').")


def check_video_size(height: int, width: int, num_frames: int, temporal: int, multiple: int) -> None:
    """Raise a ValueError that says what to use instead when the size or frame count breaks a family's rules."""
    if temporal > 1 and (num_frames - 1) % temporal != 0:
        lower = (num_frames - 1) // temporal * temporal + 1
        raise ValueError(
            f"num_frames must be {temporal}k+1 for this model (its VAE compresses time by {temporal}); "
            f"got {num_frames}, use {lower} or {lower + temporal}"
        )
    for label, value in (("height", height), ("width", width)):
        if value % multiple != 0:
            raise ValueError(
                f"{label} must be a multiple of {multiple} for this model; got {value}, "
                f"use {value // multiple * multiple or multiple} or {(value // multiple + 1) * multiple}"
            )
