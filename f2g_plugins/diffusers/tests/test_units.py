"""Unit tests of the pure pieces: frame maps, schedules against the schedulers' own arithmetic, options, plugin."""

from __future__ import annotations

import math
from typing import Any

import f2g_plugin_diffusers.plugin as plugin
import pytest
import torch
from f2g_plugin_diffusers.framemap import latent_index, num_latent_frames, prefix_span, window_spans
from f2g_plugin_diffusers.schedules import ddim_schedule, flow_schedule
from pydantic import ValidationError

from f2g_core.steppers import gaussian_step
from f2g_core.testing import assert_close_to_scale, isolated_plugins


def test_latent_index_of_causal_vae() -> None:
    assert [latent_index(f, 4) for f in range(10)] == [0, 1, 1, 1, 1, 2, 2, 2, 2, 3]
    assert num_latent_frames(81, 4) == 21 and num_latent_frames(161, 8) == 21


def test_prefix_span_covers_last_key_frame() -> None:
    span = prefix_span([0, 5, 20], 4)
    assert (span.start, span.stop, span.picks) == (0, 6, (0, 5, 20))


def test_window_spans_merge_and_index() -> None:
    spans = window_spans([0, 40, 80], 4, context=1)
    assert [(s.start, s.stop) for s in spans] == [(0, 1), (9, 11), (19, 21)]
    # frame 40 is latent 10; the window starts at latent 9, whose first output frame stands for video frame 36
    assert spans[1].picks == (40 - 4 * 9,) and spans[2].picks == (80 - 4 * 19,)
    merged = window_spans([4, 6], 4, context=2)
    assert len(merged) == 1 and merged[0].positions == (0, 1)


def test_window_needs_context() -> None:
    with pytest.raises(ValueError, match="context"):
        window_spans([3], 4, context=0)


@pytest.mark.parametrize("spacing", ["leading", "trailing"])
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_schedule_steps_like_ddim_scheduler(spacing: str, eta: float) -> None:
    from diffusers import DDIMScheduler

    scheduler: Any = DDIMScheduler(
        beta_schedule="scaled_linear",
        beta_start=0.00085,
        beta_end=0.012,
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        timestep_spacing=spacing,
    )
    schedule = ddim_schedule(scheduler, 10)
    scheduler.set_timesteps(10)
    assert list(schedule.timesteps) == [float(t) for t in scheduler.timesteps]
    gen = torch.Generator().manual_seed(0)
    x, eps = torch.randn(2, 4, 8, 8, generator=gen), torch.randn(2, 4, 8, 8, generator=gen)
    for i, t in enumerate(scheduler.timesteps):
        noise = torch.randn(2, 4, 8, 8, generator=gen)
        ref = scheduler.step(eps, t, x, eta=eta, variance_noise=noise)
        src, dst = schedule.level(i), schedule.level(i + 1)
        x0 = (x - src.sigma * eps) / src.alpha
        assert_close_to_scale(x0, ref.pred_original_sample, ulps=64, what="x̂0 vs the scheduler's")
        ours = gaussian_step(x, x0, src.alpha, src.sigma, dst.alpha, dst.sigma, eta, noise)
        assert_close_to_scale(ours, ref.prev_sample, ulps=64, what="next sample vs the scheduler's")
        x = ref.prev_sample


def test_ddim_final_alpha_convention() -> None:
    from diffusers import DDIMScheduler

    one = ddim_schedule(DDIMScheduler(set_alpha_to_one=True), 5)
    first = ddim_schedule(DDIMScheduler(set_alpha_to_one=False), 5)
    assert one.alphas[-1] == 1.0 and one.sigmas[-1] == 0.0
    assert first.alphas[-1] < 1.0 and first.sigmas[-1] > 0.0  # ᾱ at t=0, as DDIM's last step uses


def test_flow_schedule_uses_the_schedulers_shifted_sigmas() -> None:
    from diffusers import FlowMatchEulerDiscreteScheduler

    schedule = flow_schedule(FlowMatchEulerDiscreteScheduler(shift=3.0), 4)
    reference: Any = FlowMatchEulerDiscreteScheduler(shift=3.0)
    reference.set_timesteps(4)
    assert schedule.sigmas == pytest.approx(reference.sigmas.tolist())
    assert schedule.timesteps == pytest.approx(reference.timesteps.tolist())
    assert schedule.sigmas[1] > 0.75  # shift 3 keeps more steps at high noise than the unshifted 2/3
    assert schedule.sigmas[-1] == 0.0 and schedule.alphas[-1] == 1.0
    assert all(math.isclose(a + s, 1.0, abs_tol=1e-7) for a, s in zip(schedule.alphas, schedule.sigmas, strict=True))


def test_flow_schedule_does_not_touch_the_pipeline_scheduler() -> None:
    from diffusers import FlowMatchEulerDiscreteScheduler

    scheduler: Any = FlowMatchEulerDiscreteScheduler()
    before = scheduler.timesteps.clone()
    flow_schedule(scheduler, 7)
    assert torch.equal(scheduler.timesteps, before)


@pytest.mark.parametrize(
    ("backbone", "options", "match"),
    [
        ("ltx-video", {"num_frames": 160}, r"8k\+1.*use 153 or 161"),
        ("ltx-video", {"width": 700}, "multiple of 32"),
        ("cogvideox", {"num_frames": 48}, r"4k\+1"),
        ("hunyuan-video", {"num_frames": 64}, r"4k\+1"),
        ("wan", {"offload": "gpu"}, "offload"),
        ("modelscope", {"unknown": 1}, "unknown"),
    ],
)
def test_options_errors_name_the_rule(backbone: str, options: dict, match: str) -> None:
    registry = isolated_plugins([("f2g-plugin-diffusers", plugin)]).registry
    cls = registry.get("backbone", backbone, "backbone.type").cls
    with pytest.raises(ValidationError, match=match):
        cls.Options(**options)


def test_plugin_registers_every_family_and_alias() -> None:
    registry = isolated_plugins([("f2g-plugin-diffusers", plugin)]).registry
    names = [
        "wan",
        "ltx-video",
        "hunyuan-video",
        "cogvideox",
        "animatediff",
        "modelscope",
        "zeroscope",
        "videocrafter2-diffusers",
    ]
    classes: dict[str, Any] = {name: registry.get("backbone", name, "backbone.type").cls for name in names}
    assert classes["zeroscope"] is classes["modelscope"]
    assert classes["videocrafter2-diffusers"].Options().guidance_scale == 12.0  # the paper's VC2 setting
    assert classes["wan"].Options().model == "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"


def test_missing_weights_give_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from f2g_plugin_diffusers.wan import WanBackbone

    from f2g_core.errors import ComponentError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    backbone = WanBackbone(WanBackbone.Options(model="/nonexistent/wan", device="cpu"))
    with pytest.raises(ComponentError, match="could not load '/nonexistent/wan'"):
        backbone.load()


def test_flow_schedule_from_wans_shipped_unipc_config() -> None:
    """Wan checkpoints ship UniPC with flow sigmas: we read its levels (and step them with the core SDE)."""
    from diffusers import UniPCMultistepScheduler

    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    schedule = flow_schedule(scheduler, 10)
    assert (
        schedule.num_steps == 10 and schedule.sigmas[0] == pytest.approx(1.0, abs=1e-5) and schedule.sigmas[-1] == 0.0
    )
    assert list(schedule.sigmas) == sorted(schedule.sigmas, reverse=True)
    assert schedule.timesteps[0] == pytest.approx(999.0)


def test_registering_imports_neither_torch_nor_diffusers() -> None:
    """`f2g plugins` / `f2g list` must stay fast: the heavy imports happen when a backbone is used."""
    import subprocess
    import sys

    code = (
        "import sys, f2g_plugin_diffusers.plugin as p; names = []; "
        "p.register_backbones(lambda cls, aliases=(): names.append(cls.name)); "
        "print(len(names), 'torch' in sys.modules, 'diffusers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["7", "False", "False"]


@pytest.mark.parametrize(
    ("backbone", "options", "fps"),
    [
        ("wan", {}, 16.0),
        ("cogvideox", {}, 8.0),
        ("hunyuan-video", {}, 24.0),
        ("ltx-video", {}, 25.0),
        ("ltx-video", {"frame_rate": 30}, 30.0),
        ("modelscope", {}, None),
        ("animatediff", {}, None),
        ("wan", {"fps": 24}, 24.0),
        ("modelscope", {"fps": 8}, 8.0),
    ],
)
def test_fps_is_the_option_else_the_familys_own_rate(backbone: str, options: dict, fps: float | None) -> None:
    """Video rewards sample frames by time from the backbone's fps: never a guessed one (None asks the user)."""
    registry = isolated_plugins([("f2g-plugin-diffusers", plugin)]).registry
    cls = registry.get("backbone", backbone, "backbone.type").cls
    assert cls(cls.Options(**options)).fps == fps


def test_fps_must_be_positive() -> None:
    registry = isolated_plugins([("f2g-plugin-diffusers", plugin)]).registry
    cls = registry.get("backbone", "wan", "backbone.type").cls
    with pytest.raises(ValidationError, match="fps"):
        cls.Options(fps=0)
