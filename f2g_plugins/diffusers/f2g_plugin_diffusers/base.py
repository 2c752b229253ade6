"""The shared machinery of every diffusers backbone: loading, placement, CFG, x̂0 conversion and key-frame decoding.

A family module only says how its pipeline encodes a prompt, calls its denoiser, and maps latents to pixels;
everything the guided sampler relies on (chunk-safe batched CFG, float32 latents, decoding only what a reward
needs) lives here once. We reuse the pipeline object for its helpers (``encode_prompt``, packing, rotary
embeddings) and its components, but never its ``__call__`` (it cannot branch into candidates) nor its
scheduler's ``step()`` (stateful).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from f2g_torch_utils.devices import resolve_device, resolve_dtype

from f2g_core.errors import ComponentError, ConfigError
from f2g_core.interfaces import Backbone, Level, MemoryEstimate, Schedule
from f2g_core.steppers import x0_from_eps, x0_from_flow, x0_from_v
from f2g_plugin_diffusers import levers
from f2g_plugin_diffusers.framemap import Span, prefix_span, window_spans
from f2g_plugin_diffusers.options import DiffusersOptions

if TYPE_CHECKING:
    import torch

    from f2g_plugin_diffusers.caches import RowCache

Prediction = Literal["flow", "epsilon", "v_prediction", "sample"]


@dataclass
class Conditioning:
    """Text conditioning of one prompt, computed once per video and reused for every candidate.

    ``cond`` / ``uncond`` hold batch-1 tensors keyed by the denoiser's keyword argument; they are expanded to
    the chunk size on each call. ``uncond`` is None when classifier-free guidance is off (scale <= 1).
    """

    cond: dict[str, torch.Tensor]
    uncond: dict[str, torch.Tensor] | None
    scale: float
    guidance_rescale: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def rescale_cfg(guided: torch.Tensor, cond_out: torch.Tensor, factor: float) -> torch.Tensor:
    """Guidance rescale (Lin et al. 2023, §3.4) exactly as diffusers' ``rescale_noise_cfg``."""
    dims = list(range(1, cond_out.ndim))
    std_text = cond_out.std(dim=dims, keepdim=True)
    std_cfg = guided.std(dim=dims, keepdim=True)
    rescaled = guided * (std_text / std_cfg)
    return factor * rescaled + (1 - factor) * guided


def to_frames(video: torch.Tensor) -> np.ndarray:
    """(B, 3, F, H, W) in [-1, 1] -> (B, F, H, W, 3) float32 in [0, 1], as diffusers' ``postprocess_video``."""
    video = (video.float() / 2 + 0.5).clamp(0, 1)
    return video.permute(0, 2, 3, 4, 1).cpu().numpy().astype(np.float32)


class DiffusersBackbone(Backbone):
    """Base of the diffusers backbones. Subclasses set the class attributes and the ``_`` hooks below."""

    Options = DiffusersOptions
    pipeline_class: ClassVar[str] = ""
    """The diffusers pipeline class loaded by ``from_pretrained`` (its name in the ``diffusers`` namespace)."""
    prediction: ClassVar[Prediction] = "flow"
    """What the denoiser predicts; DDIM-family backbones read it from the scheduler config instead."""
    frame_axis: ClassVar[int] = 1
    """The frame axis of a batch of latents (B, ...)."""
    per_frame_vae: ClassVar[bool] = False
    """True when the VAE decodes every latent frame on its own (SD VAEs): key frames decode exactly, alone."""
    denoiser_names: ClassVar[tuple[str, ...]] = ("transformer",)
    """The pipeline components `quantization.components: [transformer]` stands for."""
    tiny_builder: ClassVar[str] = ""
    """The :mod:`f2g_plugin_diffusers.tiny` function building a random miniature of this family (``model: tiny``)."""
    spatial_factor: ClassVar[int] = 8
    """Pixels per latent along height and width (the memory estimate reads it before anything loads)."""
    prefix_exact: ClassVar[bool] = True
    """For causal video VAEs: whether decoding a prefix of the latents gives exactly those frames of the full
    decode (checked by the tests). When False, 'exact' decoding decodes everything and picks the key frames."""

    def __init__(self, options: DiffusersOptions | None = None, *, pipeline: Any = None) -> None:
        """``pipeline`` injects an already-built diffusers pipeline (tests, notebooks); otherwise ``load()``
        builds one from ``options.model`` (a hub id or a local folder)."""
        super().__init__(options)
        self.options: DiffusersOptions
        self._pipe = pipeline
        self._injected = pipeline
        self._configured = False
        self._levered: Any = None
        """The pipeline the LoRAs, attention backend and compilation were applied to (once per pipeline)."""
        self._device = resolve_device(self.options.device)
        self._schedule_steps: int | None = None
        self._cache: RowCache | None = None
        """The feature cache on the levered pipeline's denoisers (``cache`` option), its state kept per row."""

    # ----------------------------------------------------------------------------------------------- loading

    def load(self) -> None:
        """Build the pipeline (once), then place it: dtype, device or offload, VAE tiling/slicing."""
        if self._configured:
            return
        if self._pipe is None:
            self._pipe = self._from_pretrained()
        elif self.options.quantization is not None:
            raise ConfigError(
                f"backbone {self.name!r}: quantization applies while loading a checkpoint, not to an injected "
                "pipeline; save it (pipeline.save_pretrained) and give its folder as `model`"
            )
        fresh = self._pipe is not self._levered  # an injected pipeline reloaded after close() has them already
        if fresh:
            levers.load_loras(self._pipe, self.options.lora, self.options.fuse_lora, self.name)
        self._place(self._pipe)
        if fresh and self.options.attention_backend is not None:
            levers.set_attention_backend(self._pipe, self.options.attention_backend, self.name)
        if fresh:
            self._cache = self._make_cache(self._pipe)
        if fresh and self.options.compile is not None:
            levers.compile_denoisers(self._pipe, self.options.compile)
        self._levered = self._pipe
        self._configured = True
        try:
            self._check_loaded()
        except Exception:
            self._configured = False
            raise

    def _make_cache(self, pipe: Any) -> RowCache | None:
        """The ``cache`` option's diffusers cache on every denoiser, on from the start unless it is for drafts."""
        from f2g_plugin_diffusers.caches import RowCache, cache_config

        options = self.options.cache
        if options is None:
            return None
        models = levers.denoisers(pipe)
        for model in models:
            if not hasattr(model, "enable_cache"):
                name = type(model).__name__
                raise ConfigError(f"cache: backbone {self.name!r}'s {name} has no diffusers cache hooks; drop `cache`")
        cache = RowCache(models, options, None)
        cfg = self.options.guidance_scale > 1.0
        cache.config = cache_config(options, lambda: cache.timestep, type(self.options), cfg)
        if options.use == "always":
            cache.enable()
        return cache

    @property
    def row_state(self) -> bool:
        """With a ``cache`` the denoiser reuses the previous call's activations per row (see caches.py)."""
        return self.options.cache is not None

    def follow_rows(self, ancestors: np.ndarray) -> None:
        if self._cache is not None:
            self._cache.follow(ancestors)

    def draft_mode(self) -> AbstractContextManager[None] | None:
        """With ``cache: {use: drafts}``: the cache on for the draft method's drafts only."""
        if self.options.cache is None or self.options.cache.use != "drafts":
            return None
        self.load()
        assert self._cache is not None
        return self._cache.drafting()

    def _cached(self, rows: int, width: int, level: Level) -> AbstractContextManager[None]:
        """The cache's per-row state in and out around one denoiser call (nothing without a cache)."""
        return nullcontext() if self._cache is None else self._cache.call(rows, width, level.timestep)

    @property
    def pipe(self) -> Any:
        """The diffusers pipeline, loaded on first use."""
        self.load()
        return self._pipe

    def _pretrained_kwargs(self) -> dict[str, Any]:
        """Extra keyword arguments for ``from_pretrained``: here a VAE loaded in its own dtype (Wan's VAE is
        meant to run in float32: loading it in bfloat16 and casting up would keep the rounding); subclasses add
        more (a motion adapter)."""
        dtype = resolve_dtype(self.options.dtype, self._device)
        if self.options.vae_dtype is None or resolve_dtype(self.options.vae_dtype, self._device) == dtype:
            return {}
        from diffusers import AutoModel

        vae = AutoModel.from_pretrained(
            self.options.model,
            subfolder="vae",
            dtype=resolve_dtype(self.options.vae_dtype, self._device),
            revision=self.options.revision,
        )
        return {"vae": vae}

    def _from_pretrained(self) -> Any:
        from f2g_torch_utils.compat import ensure_torchvision

        ensure_torchvision()
        import diffusers

        model = self.options.model
        if model == "tiny":  # random-weight miniature: smoke tests, benchmarks, trying configs offline
            from f2g_plugin_diffusers import tiny

            if self.options.quantization is not None:
                raise ConfigError(
                    f"backbone {self.name!r}: quantization applies while loading a checkpoint and model 'tiny' is "
                    "built in memory; save it (pipeline.save_pretrained) and give its folder as `model`"
                )
            return getattr(tiny, self.tiny_builder)()
        if not model:
            raise ConfigError(f"backbone {self.name!r}: options.model must name a hub id or a local folder")
        cls = getattr(diffusers, self.pipeline_class)
        dtype = resolve_dtype(self.options.dtype, self._device)
        kwargs = self._pretrained_kwargs()
        quantization = self.options.quantization
        if quantization is not None and quantization.backend == "gguf":
            kwargs["transformer"] = levers.gguf_transformer(self.pipeline_class, quantization, model, dtype)
        elif quantization is not None:
            present = cls.load_config(model, revision=self.options.revision)  # model_index.json: which parts exist
            names = tuple(name for name in self.denoiser_names if (present.get(name) or [None])[0] is not None)
            kwargs["quantization_config"] = levers.quantization_config(quantization, dtype, names)
        try:
            return cls.from_pretrained(
                model, dtype=dtype, revision=self.options.revision, variant=self.options.variant, **kwargs
            )
        except (OSError, ValueError) as error:
            raise ComponentError(
                f"backbone {self.name!r} could not load {model!r} with {self.pipeline_class}: {error}. "
                "Give a diffusers-format hub id (network or a filled HF cache) or a local folder."
            ) from error

    def _place(self, pipe: Any) -> None:
        dtype = resolve_dtype(self.options.dtype, self._device)
        vae = getattr(pipe, "vae", None)
        vae_dtype = resolve_dtype(self.options.vae_dtype, self._device) if self.options.vae_dtype else dtype
        for module in self._modules(pipe):
            wanted = vae_dtype if module is vae else dtype
            if getattr(module, "dtype", wanted) != wanted:  # from_pretrained already used torch_dtype
                module.to(dtype=wanted)
        if self.options.offload == "model":
            pipe.enable_model_cpu_offload(device=self._device)
        elif self.options.offload == "sequential":
            pipe.enable_sequential_cpu_offload(device=self._device)
        elif self.options.offload == "group":
            levers.group_offload(pipe, self._device, self.options.group_offload)
        else:
            parked = self._text_encoders(pipe) if self.options.text_encoder_offload else []
            for module in self._modules(pipe):
                module.to("cpu" if any(module is encoder for encoder in parked) else self._device)
        if vae is not None:
            if self.options.vae_tiling and hasattr(vae, "enable_tiling"):
                vae.enable_tiling()
            if self.options.vae_slicing and hasattr(vae, "enable_slicing"):
                vae.enable_slicing()

    def _modules(self, pipe: Any) -> list[Any]:
        import torch

        return [m for m in pipe.components.values() if isinstance(m, torch.nn.Module)]

    def _text_encoders(self, pipe: Any) -> list[Any]:
        import torch

        return [
            m for k, m in pipe.components.items() if k.startswith("text_encoder") and isinstance(m, torch.nn.Module)
        ]

    def _check_loaded(self) -> None:
        """Check the loaded model against the options (e.g. the VAE's real temporal factor)."""
        factor = self._temporal_factor()
        if factor > 1 and (self.options.num_frames - 1) % factor != 0:
            raise ConfigError(
                f"backbone {self.name!r}: num_frames must be {factor}k+1 for this checkpoint's VAE; "
                f"got {self.options.num_frames}"
            )

    def close(self) -> None:
        """Drop the loaded pipeline (an injected one is kept: its owner may reuse the backbone)."""
        self._pipe = self._injected
        self._configured = False

    # ------------------------------------------------------------------------------------------ properties

    @property
    def device(self) -> torch.device:
        """Where the denoiser runs (with offload: the accelerator the hooks move modules to)."""
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        """Latents stay float32 whatever the weights' dtype (as the pipelines keep them): steps lose no precision."""
        import torch

        return torch.float32

    @property
    def model_dtype(self) -> torch.dtype:
        return self._denoiser().dtype

    @property
    def num_frames(self) -> int:
        return self.options.num_frames

    @property
    def fps(self) -> float | None:
        """``options.fps``, else the family's own rate: video rewards then see the video at its real speed."""
        return self.options.fps if self.options.fps is not None else type(self.options).native_fps

    def _denoiser(self) -> Any:
        return self.pipe.transformer

    def memory_estimate(self) -> MemoryEstimate | None:
        """Accelerator memory by part (see :mod:`f2g_plugin_diffusers.memory`), read from the checkpoint's configs
        without loading weights; None for the UNet families and when the configs cannot be read offline."""
        from f2g_torch_utils.compat import ensure_torchvision

        from f2g_plugin_diffusers import memory

        if "transformer" not in self.denoiser_names:
            return None
        ensure_torchvision()  # transformers' lazy imports need it before the config classes load
        pipe = self._pipe
        if pipe is None and self.options.model == "tiny":
            from f2g_plugin_diffusers import tiny

            pipe = getattr(tiny, self.tiny_builder)()
        try:
            params = memory.component_params(pipe, self.pipeline_class, self.options.model, self.options.revision)
            config = memory.denoiser_config(pipe, self.pipeline_class, self.options.model, self.options.revision)
            vae = dict(pipe.vae.config) if pipe is not None else None
        except (OSError, ValueError, KeyError):
            return None
        patch = config.get("patch_size", 2)
        spatial = patch[-1] if isinstance(patch, list | tuple) else int(patch)
        temporal = patch[0] if isinstance(patch, list | tuple) else int(config.get("patch_size_t") or 1)
        factor = self.options.temporal_factor
        frames = (self.options.num_frames - 1) // factor + 1
        side = self.spatial_factor * spatial
        tokens = -(-frames // temporal) * (self.options.height // side) * (self.options.width // side)
        # a causal VAE decodes a few frames at a time; the others decode the whole video at once
        decoded = factor if self.prefix_exact else self.options.num_frames
        width = int((vae or {}).get("base_dim") or ((vae or {}).get("block_out_channels") or [128])[0])
        return memory.estimate(
            self.options,
            params,
            config,
            tokens,
            decoded * self.options.height * self.options.width,
            width,
            self.options.guidance_scale > 1.0,
        )

    # ------------------------------------------------------------------------------------------- sampling

    def encode_prompt(self, prompt: str, negative_prompt: str | None, cfg_scale: float | None) -> Conditioning:
        """Encode prompt (and negative prompt when CFG is on) once; reused for every candidate and step."""
        import torch

        scale = self.options.guidance_scale if cfg_scale is None else float(cfg_scale)
        negative = negative_prompt if negative_prompt is not None else self.options.negative_prompt
        encoders = self._text_encoders(self.pipe) if self.options.text_encoder_offload else []
        for encoder in encoders:
            encoder.to(self.device)
        try:
            with torch.no_grad():
                cond, uncond = self._encode(prompt, negative, scale > 1.0)
        finally:  # the encoder leaves the accelerator again, even when encoding failed
            for encoder in encoders:
                encoder.to("cpu")
        return Conditioning(cond=cond, uncond=uncond if scale > 1.0 else None, scale=scale)

    batched_conditioning = True

    def stack_conditioning(self, conds: Sequence[Conditioning]) -> Conditioning:
        """Row i conditioned on ``conds[i]``: every text tensor concatenated along the batch (same shapes)."""
        import torch

        first = conds[0]
        if any(
            (c.scale, c.guidance_rescale, c.uncond is None)
            != (first.scale, first.guidance_rescale, first.uncond is None)
            for c in conds
        ):
            raise ValueError("stacked conditionings must share the CFG scale and rescale")
        try:
            cond = {k: torch.cat([c.cond[k] for c in conds]) for k in first.cond}
            negatives = [c.uncond for c in conds if c.uncond is not None]
            uncond = None if first.uncond is None else {k: torch.cat([u[k] for u in negatives]) for k in first.uncond}
        except RuntimeError as error:
            raise ValueError(
                f"backbone {self.name!r}: prompt encodings of different shapes cannot share a batch ({error})"
            ) from None
        return Conditioning(
            cond=cond, uncond=uncond, scale=first.scale, guidance_rescale=first.guidance_rescale, extra=first.extra
        )

    def _encode(
        self, prompt: str, negative_prompt: str | None, do_cfg: bool
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
        raise NotImplementedError

    def _call_model(self, latents: torch.Tensor, level: Level, kwargs: dict[str, Any], cond: Conditioning) -> Any:
        """One denoiser call on a batch (already doubled for CFG); returns the raw model output."""
        raise NotImplementedError

    def _cfg_scale(self, level: Level, cond: Conditioning) -> float:
        return cond.scale

    def _prediction(self) -> Prediction:
        return self.prediction

    def denoise(self, latents: torch.Tensor, level: Level, cond: Conditioning) -> torch.Tensor:
        """x̂0 of a batch of candidates: one denoiser call on [uncond; cond] (CFG), converted to x̂0 in float32."""
        import torch

        latents = latents.to(self.device, torch.float32)
        n = latents.shape[0]
        with torch.no_grad():
            if cond.uncond is None:
                kwargs = {k: _expand(v, n) for k, v in cond.cond.items()}
                with self._cached(n, 1, level):
                    out = self._call_model(latents, level, kwargs, cond).float()
            else:
                kwargs = {k: torch.cat([_expand(cond.uncond[k], n), _expand(v, n)]) for k, v in cond.cond.items()}
                with self._cached(n, 2, level):
                    both = self._call_model(torch.cat([latents, latents]), level, kwargs, cond).float()
                out_uncond, out_cond = both.chunk(2)
                out = out_uncond + self._cfg_scale(level, cond) * (out_cond - out_uncond)
                if cond.guidance_rescale > 0:
                    out = rescale_cfg(out, out_cond, cond.guidance_rescale)
        return self._to_x0(latents, out, level)

    def _to_x0(self, latents: torch.Tensor, out: torch.Tensor, level: Level) -> torch.Tensor:
        prediction = self._prediction()
        if prediction == "flow":
            return x0_from_flow(latents, out, level.sigma)
        if prediction == "epsilon":
            return x0_from_eps(latents, out, level.alpha, level.sigma)
        if prediction == "v_prediction":
            return x0_from_v(latents, out, level.alpha, level.sigma)
        return out

    def schedule(self, num_steps: int) -> Schedule:
        custom = self.options.timesteps if self.options.timesteps is not None else self.options.sigmas
        if custom is not None and len(custom) != num_steps:
            raise ConfigError(
                f"backbone {self.name!r}: its custom schedule lists {len(custom)} steps but the sampler runs "
                f"{num_steps}; set sampler.num_steps: {len(custom)}"
            )
        self._schedule_steps = num_steps
        return self._schedule(num_steps) if custom is None else self._custom_schedule()

    def _custom_schedule(self) -> Schedule:
        """The schedule given by the ``timesteps`` / ``sigmas`` options, used as given."""
        from f2g_plugin_diffusers.schedules import custom_flow_schedule

        return custom_flow_schedule(self.pipe.scheduler, self.options.timesteps, self.options.sigmas)

    def _schedule(self, num_steps: int) -> Schedule:
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------- decoding

    def _temporal_factor(self) -> int:
        """Video frames per latent frame after the first (1 for per-frame VAEs)."""
        return 1

    def _trim(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents as the VAE sees them (e.g. CogVideoX 1.5 drops its padding frames)."""
        return latents

    def _vae_decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Decode a batch of latents (family layout, any number of frames) to (B, 3, F, H, W) in [-1, 1]."""
        raise NotImplementedError

    def decode(self, x0: torch.Tensor, frame_indices: Sequence[int]) -> np.ndarray:
        """Decode only ``frame_indices`` of each candidate (see the class attributes for which modes are exact).

        Per-frame VAEs decode just the key frames' latents. Causal video VAEs in 'exact' mode decode the
        shortest latent prefix holding the key frames (or everything when a prefix is not exact); 'window' mode
        (``decode_mode`` option, where offered) decodes a few latents before each key frame — a fast preview.
        """
        import torch

        frames = [int(f) for f in frame_indices]
        if any(not 0 <= f < self.num_frames for f in frames):
            raise ValueError(f"frame indices must be in [0, {self.num_frames}), got {frames}")
        latents = self._trim(x0.to(self.device, torch.float32))
        with torch.no_grad():
            if self.per_frame_vae:
                picked = latents.index_select(self.frame_axis, torch.tensor(frames, device=latents.device))
                return to_frames(self._vae_decode(picked))
            return np.stack([self._decode_one(latents[i : i + 1], frames) for i in range(latents.shape[0])])

    def _decode_one(self, latents: torch.Tensor, frames: list[int]) -> np.ndarray:
        """One candidate's key frames through a temporally compressed VAE: (F, H, W, 3)."""
        factor = self._temporal_factor()
        mode = getattr(self.options, "decode_mode", "exact")
        if mode == "window":
            spans = window_spans(frames, factor, int(getattr(self.options, "window_context", 1)))
        elif self.prefix_exact:
            spans = [prefix_span(frames, factor)]
        else:  # only the whole video is exact: decode it all, pick the key frames
            spans = [Span(0, latents.shape[self.frame_axis], tuple(frames), tuple(range(len(frames))))]
        out: list[np.ndarray | None] = [None] * len(frames)
        for span in spans:
            part = latents.narrow(self.frame_axis, span.start, span.stop - span.start)
            video = to_frames(self._vae_decode(part))[0]
            for position, pick in zip(span.positions, span.picks, strict=True):
                out[position] = video[min(pick, video.shape[0] - 1)]
        return np.stack([frame for frame in out if frame is not None])

    def decode_video(self, x0: torch.Tensor) -> np.ndarray:
        """Decode whole videos in one VAE pass per candidate (the final output)."""
        import torch

        latents = self._trim(x0.to(self.device, torch.float32))
        with torch.no_grad():
            return np.concatenate([to_frames(self._vae_decode(latents[i : i + 1])) for i in range(latents.shape[0])])


def _expand(tensor: torch.Tensor, n: int) -> torch.Tensor:
    """Repeat a batch-1 conditioning tensor for n candidates (a view, no copy); stacked ones have n rows already."""
    if tensor.shape[0] == n:
        return tensor
    return tensor.expand(n, *tensor.shape[1:])


class DDIMBackbone(DiffusersBackbone):
    """Backbones trained with a discrete variance-preserving schedule, sampled with DDIM (eta from the sampler).

    Whatever sampler the checkpoint ships (DPM-Solver, Euler, ...), its config converts to a DDIM scheduler with
    the same training betas; what the model predicts (epsilon or v) comes from that config.
    """

    def _schedule(self, num_steps: int) -> Schedule:
        from f2g_plugin_diffusers.schedules import ddim_schedule

        return ddim_schedule(self.pipe.scheduler, num_steps)

    def _custom_schedule(self) -> Schedule:
        from f2g_plugin_diffusers.schedules import custom_ddim_schedule

        assert self.options.timesteps is not None  # the options reject sigmas for DDIM families
        return custom_ddim_schedule(self.pipe.scheduler, [int(t) for t in self.options.timesteps])

    def _prediction(self) -> Prediction:
        from f2g_plugin_diffusers.schedules import as_ddim

        return as_ddim(self.pipe.scheduler).config.prediction_type

    def _timesteps(self, level: Level, n: int) -> torch.Tensor:
        """Integer training timesteps, as the DDIM pipelines pass them."""
        import torch

        return torch.full((n,), int(level.timestep), device=self.device, dtype=torch.long)
