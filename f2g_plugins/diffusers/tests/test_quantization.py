"""Quantisation through diffusers' configs (torchao int8 on CPU at tiny size), group and text-encoder offload, and
the config-time checks of each lever."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from f2g_plugin_diffusers import tiny
from f2g_plugin_diffusers.options import QuantizationOptions
from f2g_plugin_diffusers.testing import unguided_sample
from f2g_plugin_diffusers.wan import WanBackbone
from pydantic import ValidationError

from f2g_core.errors import ConfigError

SMALL = {"height": 32, "width": 32, "num_frames": 9, "max_sequence_length": 16, "device": "cpu"}
INT8_RELATIVE_L2 = 0.02
"""int8 weight-only keeps each weight row with a scale max|w| / 127, so a weight moves by at most 1/254 of its row's
largest (≈ 0.4 %); those errors add roughly in quadrature through the layers and four steps. Measured on the tiny
Wan: 0.27 % relative L2 error of the final latents; 2 % leaves a 7× margin, while a wrong scale or layout gives
errors of order 1."""


@pytest.fixture(scope="module")
def wan_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-wan")
    tiny.wan().save_pretrained(folder)  # quantisation applies while from_pretrained loads a checkpoint
    return folder


def _run(folder: Path, **options: Any) -> tuple[WanBackbone, torch.Tensor]:
    backbone = WanBackbone(WanBackbone.Options(model=str(folder), **SMALL, **options))
    noise = torch.randn((1, *backbone.latent_shape()), generator=torch.Generator().manual_seed(0))
    return backbone, unguided_sample(backbone, "a red car", noise, 4, negative_prompt="blurry", cfg_scale=5.0)


def test_torchao_int8_weight_only_runs_on_cpu_within_tolerance(wan_folder: Path) -> None:
    pytest.importorskip("torchao")
    _, full = _run(wan_folder)
    backbone, quantised = _run(wan_folder, quantization={"backend": "torchao", "quant_type": "int8wo"})
    weight = backbone.pipe.transformer.blocks[0].attn1.to_q.weight
    assert type(weight).__module__.startswith("torchao")  # the transformer's weights really are int8 tensors
    assert type(backbone.pipe.text_encoder.shared.weight).__module__.startswith("torch")  # not asked for
    error = float((quantised - full).norm() / full.norm())
    assert 0 < error < INT8_RELATIVE_L2, error


def test_torchao_quantises_the_text_encoder_when_asked(wan_folder: Path) -> None:
    pytest.importorskip("torchao")
    options = {"backend": "torchao", "quant_type": "int8wo", "components": ["transformer", "text_encoder"]}
    backbone, _ = _run(wan_folder, quantization=options)
    query = backbone.pipe.text_encoder.encoder.block[0].layer[0].SelfAttention.q.weight
    assert type(query).__module__.startswith("torchao")


def test_quantization_of_a_model_built_in_memory_says_how_to_fix_it() -> None:
    pytest.importorskip("torchao")
    backbone = WanBackbone(WanBackbone.Options(model="tiny", **SMALL, quantization={"backend": "torchao"}))
    with pytest.raises(ConfigError, match=r"save it .*save_pretrained.* as `model`"):
        backbone.load()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"backend": "torchao", "quant_type": "int3"}, "not a torchao format; use one of int8wo"),
        ({"backend": "gguf"}, "gguf.* needs quantization.file"),
    ],
)
def test_quantization_options_are_checked_at_config_time(options: dict[str, Any], message: str) -> None:
    if options["backend"] == "gguf":
        pytest.importorskip("gguf")
    else:
        pytest.importorskip("torchao")
    with pytest.raises(ValidationError, match=message):
        QuantizationOptions(**options)


def test_a_missing_backend_package_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "bitsandbytes" else real(name))
    with pytest.raises(ValidationError, match="needs the bitsandbytes package: pip install bitsandbytes"):
        QuantizationOptions(backend="bitsandbytes", quant_type="4bit")


def test_cuda_only_levers_on_a_cpu_device_fail_at_config_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: object() if name == "bitsandbytes" else real(name)
    )
    with pytest.raises(ValidationError, match="'bitsandbytes' needs a CUDA device"):
        WanBackbone.Options(model="x", **SMALL, quantization={"backend": "bitsandbytes", "quant_type": "8bit"})
    with pytest.raises(ValidationError, match=r"group_offload.use_stream needs a CUDA device"):
        WanBackbone.Options(model="x", **SMALL, offload="group", group_offload={"use_stream": True})


def test_group_offload_runs_and_matches_no_offload() -> None:
    pipe = tiny.wan()
    plain = WanBackbone(WanBackbone.Options(model="tiny", **SMALL), pipeline=tiny.wan())
    grouped = WanBackbone(WanBackbone.Options(model="tiny", **SMALL, offload="group"), pipeline=pipe)
    noise = torch.randn((1, *plain.latent_shape()), generator=torch.Generator().manual_seed(0))
    expected = unguided_sample(plain, "a cat", noise, 3, cfg_scale=5.0)
    got = unguided_sample(grouped, "a cat", noise, 3, cfg_scale=5.0)
    assert any(hasattr(m, "_diffusers_hook") for m in pipe.transformer.modules())  # diffusers' offload hooks
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_text_encoder_is_parked_on_the_cpu_and_visits_the_device_only_to_encode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipe = tiny.wan()
    moves: list[str] = []
    original = pipe.text_encoder.to

    def recording(*args: Any, **kwargs: Any) -> Any:
        moves.append(str(args[0] if args else kwargs.get("device")))
        return original(*args, **kwargs)

    monkeypatch.setattr(pipe.text_encoder, "to", recording)
    backbone = WanBackbone(WanBackbone.Options(model="tiny", **SMALL, text_encoder_offload=True), pipeline=pipe)
    backbone.load()
    assert moves[-1] == "cpu"  # placed on the CPU, not the device
    moves.clear()
    backbone.encode_prompt("a cat", "blurry", 5.0)
    assert moves == ["cpu", "cpu"]  # in to the device (cpu here) for the encoding, out again after
    with pytest.raises(ValidationError, match="already moves the text encoder"):
        WanBackbone.Options(model="tiny", **SMALL, text_encoder_offload=True, offload="model")
