"""f2g's backbone contract (f2g_core.contracts) on every diffusers family, with its tiny random model."""

from __future__ import annotations

from typing import Any, ClassVar

import f2g_plugin_diffusers.plugin as plugin

from f2g_core.contracts import BackboneContract

TINY = {"model": "tiny", "height": 32, "width": 32, "device": "cpu"}


class DiffusersContract(BackboneContract):
    plugin = plugin
    num_steps: ClassVar[int] = 2


class TestWanContract(DiffusersContract):
    component_id = "wan"
    options: ClassVar[dict[str, Any]] = {**TINY, "num_frames": 9, "max_sequence_length": 16}


class TestCogVideoXContract(DiffusersContract):
    component_id = "cogvideox"
    options: ClassVar[dict[str, Any]] = {**TINY, "num_frames": 9, "max_sequence_length": 16}


class TestLTXVideoContract(DiffusersContract):
    component_id = "ltx-video"
    options: ClassVar[dict[str, Any]] = {**TINY, "num_frames": 9, "max_sequence_length": 16}


class TestLTXVideoWindowContract(DiffusersContract):
    component_id = "ltx-video"
    options: ClassVar[dict[str, Any]] = {**TINY, "num_frames": 9, "max_sequence_length": 16, "decode_mode": "window"}
    decode_exact: ClassVar[bool] = False  # a preview: approximate by design


class TestHunyuanVideoContract(DiffusersContract):
    component_id = "hunyuan-video"
    options: ClassVar[dict[str, Any]] = {**TINY, "num_frames": 9, "max_sequence_length": 8}


class TestModelScopeContract(DiffusersContract):
    component_id = "modelscope"
    options: ClassVar[dict[str, Any]] = {**TINY, "num_frames": 8}


class TestVideoCrafter2Contract(DiffusersContract):
    component_id = "videocrafter2-diffusers"
    options: ClassVar[dict[str, Any]] = {**TINY, "num_frames": 8}


class TestAnimateDiffContract(DiffusersContract):
    component_id = "animatediff"
    options: ClassVar[dict[str, Any]] = {**TINY, "num_frames": 8}
