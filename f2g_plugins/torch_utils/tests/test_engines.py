"""f2g_torch_utils.engines and the model-folder helpers of checkpoints: one loading path for engine-backed models."""

from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from f2g_torch_utils.checkpoints import model_folder, read_safetensors_folder, save_state_dict
from f2g_torch_utils.engines import EngineHost, ModelFolderOptions
from pydantic import Field

from f2g_core.errors import ComponentError


@dataclass
class Settings:
    source: str


@dataclass
class FakeEngine:
    """Records how it was built."""

    settings: Settings
    kind: str
    device: torch.device
    dtype: torch.dtype

    @classmethod
    def tiny(cls, options: Any, device: torch.device, dtype: torch.dtype) -> FakeEngine:
        return cls(Settings(f"tiny (seed {options.seed})"), "tiny", device, dtype)

    @classmethod
    def published(cls, options: Any, device: torch.device, dtype: torch.dtype) -> FakeEngine:
        return cls(Settings(options.model), "published", device, dtype)


class FakeOptions(ModelFolderOptions):
    model: str = Field("org/fake", description="Checkpoint or 'tiny'.")


class Host(EngineHost[FakeEngine]):
    name: ClassVar[str] = "fake"
    engine_class = FakeEngine

    def __init__(self, **options: Any) -> None:
        self.options = FakeOptions(**options)


def test_tiny_builds_the_miniature_with_the_resolved_device_and_dtype(caplog: pytest.LogCaptureFixture) -> None:
    host = Host(model="tiny", seed=3, device="cpu", dtype="bfloat16")
    with caplog.at_level(logging.INFO, logger="f2g.fake"):
        engine = host.engine
    assert (engine.kind, engine.device, engine.dtype) == ("tiny", torch.device("cpu"), torch.bfloat16)
    assert "fake: loaded tiny (seed 3) on cpu (torch.bfloat16)" in caplog.text


def test_another_model_is_built_from_its_checkpoint_once_until_closed() -> None:
    host = Host(model="/models/fake", device="cpu")
    host.load()
    first = host.engine
    host.load()
    assert first.kind == "published" and first.settings.source == "/models/fake" and host.engine is first
    host.close()
    assert host._engine is None and host.engine is not first


def test_the_options_share_the_model_fields_and_forbid_others() -> None:
    options = FakeOptions()
    assert (options.attn_implementation, options.seed, options.cache_dir) == ("sdpa", 0, None)
    with pytest.raises(ValueError, match="extra"):
        FakeOptions.model_validate({"unknown": 1})


def test_a_folder_is_used_as_it_is(tmp_path: Path) -> None:
    assert model_folder(str(tmp_path), ["*.json"], what="fake") == tmp_path


def test_a_missing_folder_is_named_not_looked_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: pytest.fail("looked up on the hub"))
    with pytest.raises(ComponentError, match=r"^fake: folder '\./nowhere' does not exist$"):
        model_folder("./nowhere", ["*.json"], what="fake")


def test_a_hub_repo_downloads_only_the_patterns(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub

    calls: list[tuple[Any, ...]] = []

    def fake(repo: str, allow_patterns: list[str], cache_dir: str | None) -> str:
        calls.append((repo, allow_patterns, cache_dir))
        return str(tmp_path)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    assert model_folder("org/name", ("*.json", "*.safetensors"), what="fake", cache_dir="c") == tmp_path
    assert calls == [("org/name", ["*.json", "*.safetensors"], "c")]


def test_a_failed_download_says_to_give_the_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    def offline(*args: Any, **kwargs: Any) -> str:
        raise OSError("offline")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(ComponentError, match=r"^fake: cannot download 'org/name': offline\. Download it yourself"):
        model_folder("org/name", ["*"], what="fake")


def test_every_shard_of_a_folder_is_read(tmp_path: Path) -> None:
    save_state_dict({"a": torch.ones(2)}, tmp_path / "model-1.safetensors")
    save_state_dict({"b": torch.zeros(3)}, tmp_path / "model-2.safetensors")
    state = read_safetensors_folder(tmp_path, what="fake")
    assert sorted(state) == ["a", "b"] and state["b"].shape == (3,)


def test_a_folder_without_shards_is_named(tmp_path: Path) -> None:
    with pytest.raises(ComponentError, match=rf"^fake: no \*\.safetensors weights in base folder '{tmp_path}'$"):
        read_safetensors_folder(tmp_path, what="fake", label="base folder ")


def test_importing_the_modules_does_not_import_torch() -> None:
    modules = "f2g_torch_utils.engines, f2g_torch_utils.video_rewards, f2g_torch_utils.golden"
    code = f"import sys, {modules}; print([m for m in ('torch', 'transformers') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
