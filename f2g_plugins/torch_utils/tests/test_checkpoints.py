"""f2g_torch_utils.checkpoints: finding (path or hub id), reading (layouts, errors), strict loading, seeded weights."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from f2g_torch_utils.checkpoints import (
    default_init,
    download_checkpoint,
    is_local_checkpoint,
    load_strict,
    read_state_dict,
    resolve_checkpoint,
    save_state_dict,
    seeded_state,
)

from f2g_core.errors import ComponentError


def tiny_module() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[Any, ...]]:
    """Replace ``huggingface_hub.hf_hub_download`` (no network): records its calls, returns a file in tmp_path."""
    import huggingface_hub

    calls: list[tuple[Any, ...]] = []

    def fake(repo_id: str, filename: str, cache_dir: str | None = None) -> str:
        calls.append((repo_id, filename, cache_dir))
        return str(tmp_path / "hub" / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake)
    return calls


# ------------------------------------------------------------------------------------------------------ finding


@pytest.mark.parametrize("source", ["/abs/w.pt", "./w", "~/w", "rel/dir/w.safetensors", "x.ckpt", "w.bin"])
def test_path_like_sources_are_local(source: str) -> None:
    assert is_local_checkpoint(source)


def test_existing_path_without_a_suffix_is_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "org").mkdir()
    (tmp_path / "org" / "weights").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert is_local_checkpoint("org/weights") and not is_local_checkpoint("org/other")


def test_local_path_is_returned_expanded_without_downloading(hub: list[Any]) -> None:
    assert resolve_checkpoint("~/ckpt/w.pt", "F.pt", what="x") == str(Path("~/ckpt/w.pt").expanduser())
    assert resolve_checkpoint("/missing/w.pth", "F.pt", what="x") == "/missing/w.pth"  # reading it will say so
    assert hub == []


def test_hub_id_downloads_the_known_file(hub: list[Any], tmp_path: Path) -> None:
    path = resolve_checkpoint("org/model", "Model.pt", what="x", cache_dir="/cache")
    assert path == str(tmp_path / "hub" / "Model.pt")
    assert hub == [("org/model", "Model.pt", "/cache")]


def test_failed_download_names_component_file_repo_and_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    def offline(*args: Any, **kwargs: Any) -> str:
        raise OSError("we are offline")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    pattern = r"^viclip: cannot download V\.pth from 'org/repo': we are offline\. .*set options\.checkpoint"
    with pytest.raises(ComponentError, match=pattern) as info:
        resolve_checkpoint("org/repo", "V.pth", what="viclip")
    assert isinstance(info.value.__cause__, OSError)
    with pytest.raises(ComponentError, match=r"^hps: cannot download H\.pt from 'a/b'"):
        download_checkpoint("a/b", "H.pt", what="hps")


# ------------------------------------------------------------------------------------------------------ reading


@pytest.mark.parametrize(
    ("name", "wrap"),
    [
        ("bare.pt", lambda s: s),
        ("lightning.ckpt", lambda s: {"epoch": 3, "state_dict": s}),
        ("internvid.pth", lambda s: {"model": s, "optimizer": {}}),
        ("deepspeed.pt", lambda s: {"module": s}),
        ("ddp.pt", lambda s: {f"module.{k}": v for k, v in s.items()}),
        ("nested_ddp.pt", lambda s: {"state_dict": {f"module.{k}": v for k, v in s.items()}}),
    ],
)
def test_published_layouts_unwrap_to_the_flat_state(name: str, wrap: Any, tmp_path: Path) -> None:
    state = tiny_module().state_dict()
    torch.save(wrap(dict(state)), tmp_path / name)
    assert_same(read_state_dict(tmp_path / name, what="x"), dict(state))


def test_only_a_full_module_prefix_is_stripped(tmp_path: Path) -> None:
    state = {"module.a": torch.zeros(1), "b": torch.ones(1)}
    torch.save(state, tmp_path / "w.pt")
    assert_same(read_state_dict(tmp_path / "w.pt", what="x"), state)


def test_safetensors_round_trip(tmp_path: Path) -> None:
    state = {"w": torch.arange(6.0).reshape(2, 3).t(), "b": torch.zeros(2)}  # non-contiguous: saved contiguous
    path = save_state_dict(state, tmp_path / "w.safetensors")
    assert_same(read_state_dict(path, what="x"), state)
    with pytest.raises(ValueError, match="nest_under"):
        save_state_dict(state, tmp_path / "n.safetensors", nest_under="model")


def test_save_nested_pickle(tmp_path: Path) -> None:
    state = dict(tiny_module().state_dict())
    path = save_state_dict(state, tmp_path / "w.pth", nest_under="model")
    assert set(torch.load(path)) == {"model"}
    assert_same(read_state_dict(path, what="x"), state)


def test_missing_file_names_component_and_file(tmp_path: Path) -> None:
    with pytest.raises(ComponentError, match=r"^imagereward: checkpoint file '.*nope\.pt' does not exist$"):
        read_state_dict(tmp_path / "nope.pt", what="imagereward")


@pytest.mark.parametrize("name", ["junk.pt", "junk.safetensors"])
def test_garbage_file_is_unreadable(name: str, tmp_path: Path) -> None:
    (tmp_path / name).write_bytes(b"not a checkpoint")
    with pytest.raises(ComponentError, match=rf"^clip: cannot read checkpoint '.*{name}': "):
        read_state_dict(tmp_path / name, what="clip")


@pytest.mark.parametrize("payload", [[torch.zeros(1)], {"w": torch.zeros(1), "step": 3}, {"model": [1, 2]}])
def test_not_a_state_dict_of_tensors(payload: Any, tmp_path: Path) -> None:
    torch.save(payload, tmp_path / "odd.pt")
    with pytest.raises(ComponentError, match=r"^viclip: '.*odd\.pt' does not hold a state dict of tensors$"):
        read_state_dict(tmp_path / "odd.pt", what="viclip")


def test_pickles_load_without_running_code(tmp_path: Path) -> None:
    torch.save({"w": torch.zeros(1), "fn": print}, tmp_path / "code.pt")  # weights_only=True refuses globals
    with pytest.raises(ComponentError, match="cannot read checkpoint"):
        read_state_dict(tmp_path / "code.pt", what="x")


# ------------------------------------------------------------------------------------------------------ loading


def test_fitting_state_loads_exactly() -> None:
    source, target = tiny_module(), torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))
    with torch.no_grad():
        source.get_parameter("0.weight").add_(1.0)
    load_strict(target, source.state_dict(), what="x", source="s.pt")
    assert_same(dict(target.state_dict()), dict(source.state_dict()))


def test_missing_unexpected_and_misshaped_keys_in_one_message() -> None:
    module = tiny_module()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    state = dict(module.state_dict())
    del state["1.bias"]
    state["0.weight"] = torch.zeros(5, 3)
    state["extra.weight"] = torch.zeros(1)
    pattern = (
        r"^imagereward: checkpoint 'w\.pt' does not fit ImageReward: 1 missing keys \(e\.g\. 1\.bias\); "
        r"1 unexpected keys \(e\.g\. extra\.weight\); "
        r"1 mis-shaped tensors \(e\.g\. 0\.weight \(5, 3\) != \(4, 3\)\) — check med_config$"
    )
    with pytest.raises(ComponentError, match=pattern):
        load_strict(
            module, state, what="imagereward", source="w.pt", model="ImageReward", shape_hint=" — check med_config"
        )
    assert_same(dict(module.state_dict()), before)  # nothing was loaded


def test_only_the_failing_kinds_are_listed_and_at_most_five_names() -> None:
    module = torch.nn.Sequential(*(torch.nn.Linear(1, 1) for _ in range(4)))
    with pytest.raises(ComponentError, match=r"^clip: checkpoint 's' does not fit the model: 8 missing keys") as info:
        load_strict(module, {}, what="clip", source="s")
    message = str(info.value)
    assert "unexpected" not in message and "mis-shaped" not in message
    assert message.count(".weight") + message.count(".bias") == 5


# ------------------------------------------------------------------------------------------------ seeded weights


def test_seeded_values_depend_on_key_and_seed_only() -> None:
    small = {"a.weight": torch.zeros(4, 3), "n": torch.zeros(2, dtype=torch.long)}
    large = {**small, "b.bias": torch.zeros(4, dtype=torch.float16)}
    one, two = seeded_state(small, seed=1), seeded_state(large, seed=1)
    assert torch.equal(one["a.weight"], two["a.weight"]) and torch.equal(one["n"], small["n"])
    assert two["b.bias"].dtype == torch.float16
    assert not torch.equal(seeded_state(small, seed=2)["a.weight"], one["a.weight"])


def test_default_init_scales() -> None:
    noise = torch.ones(4, 2, 3)
    assert default_init("x.bias", noise, noise).eq(0.1).all()
    assert default_init("ln.weight", torch.ones(4), torch.ones(4)).eq(1.1).all()
    assert default_init("token_embedding.weight", noise, noise).eq(0.5).all()
    assert torch.allclose(default_init("fc.weight", noise, noise), noise / 6**0.5)
    custom = seeded_state({"w": torch.zeros(2)}, init=lambda key, like, n: torch.full_like(n, 7.0))
    assert custom["w"].eq(7.0).all()


def test_importing_the_module_does_not_import_torch() -> None:
    heavy = ("torch", "safetensors", "huggingface_hub")
    code = f"import sys, f2g_torch_utils.checkpoints; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
