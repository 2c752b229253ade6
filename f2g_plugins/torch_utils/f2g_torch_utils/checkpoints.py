"""Finding and reading model weights: local file or hub repo, torch pickle or safetensors, strict loading.

Every reward plugin that ships its own port of a published model (CLIP/HPS, ImageReward, ViCLIP, …) needs the same
three steps, and each has the same failure modes worth a clear message instead of a traceback: the checkpoint
cannot be downloaded, the file is missing or is not a state dict, or its keys do not fit the model (the worst case:
a reward silently scoring with half-random weights). Each function takes a ``what`` label, the component's name,
which starts every error message so the user knows which reward's checkpoint is wrong.

Only the standard library and :mod:`f2g_core.errors` are imported at module level: importing a plugin (to list it)
stays cheap, and the golden-value scripts can import this module inside the reference packages' old environments.
torch, safetensors and huggingface_hub are imported by the functions that need them.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from f2g_core.errors import ComponentError

if TYPE_CHECKING:
    import torch

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "default_init",
    "download_checkpoint",
    "is_local_checkpoint",
    "load_strict",
    "model_folder",
    "read_safetensors_folder",
    "read_state_dict",
    "resolve_checkpoint",
    "save_state_dict",
    "seeded_state",
]

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors")
"""File endings that mark a checkpoint source as a local file rather than a hub repo id."""

NESTING_KEYS = ("state_dict", "model", "module")
"""Keys that training scripts nest a state dict under (Lightning/open_clip, InternVid, DeepSpeed), in unwrap order."""

DDP_PREFIX = "module."
"""The prefix DistributedDataParallel puts on every key when a wrapped model is saved."""


# -------------------------------------------------------------------------------------------------- finding


def is_local_checkpoint(source: str) -> bool:
    """Whether ``source`` names a local file rather than a hub repo id.

    Both can look like ``org/name``, so a path is recognised by existing, by a checkpoint ending, or by starting
    like one (``/``, ``.``, ``~``): a missing local file then fails as "does not exist" instead of as a confusing
    hub lookup of a repo that was never meant.
    """
    return (
        Path(source).expanduser().exists() or source.endswith(CHECKPOINT_SUFFIXES) or source.startswith(("/", ".", "~"))
    )


def download_checkpoint(repo: str, filename: str, *, what: str, cache_dir: str | None = None) -> str:
    """Fetch ``filename`` from the hub repo ``repo`` (cached) and return the local path.

    Any failure (offline, unknown repo, gated, missing file) becomes a :class:`ComponentError` that says how to
    get around it: download the file some other way and point ``options.checkpoint`` at it.
    """
    from huggingface_hub import hf_hub_download

    try:
        return str(hf_hub_download(repo, filename, cache_dir=cache_dir))
    except Exception as error:  # offline, unknown repo, auth: huggingface_hub's errors share no useful base
        raise ComponentError(
            f"{what}: cannot download {filename} from {repo!r}: {error}. Download it yourself and set "
            "options.checkpoint to the file."
        ) from error


def resolve_checkpoint(source: str, filename: str, *, what: str, cache_dir: str | None = None) -> str:
    """The local checkpoint file for ``source``: the path itself (``~`` expanded), or ``filename`` of the hub repo
    ``source`` downloaded (see :func:`is_local_checkpoint` for how the two are told apart)."""
    if is_local_checkpoint(source):
        return str(Path(source).expanduser())
    return download_checkpoint(source, filename, what=what, cache_dir=cache_dir)


def model_folder(source: str, patterns: Sequence[str], *, what: str, cache_dir: str | None = None) -> Path:
    """The model folder for ``source``: the folder itself, or a snapshot of the hub repo ``source`` holding only
    the files matching ``patterns`` (a model folder, unlike a single checkpoint file, is configs, tokenizer and
    weight shards together).

    ``source`` starting like a path (``/``, ``.``, ``~``) but missing fails as "does not exist" rather than as a
    hub lookup; a failed download says to download it another way and give the folder.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if source.startswith(("/", ".", "~")):
        raise ComponentError(f"{what}: folder {source!r} does not exist")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(source, allow_patterns=list(patterns), cache_dir=cache_dir))
    except Exception as error:  # offline, unknown repo, auth: huggingface_hub's errors share no useful base
        raise ComponentError(
            f"{what}: cannot download {source!r}: {error}. Download it yourself and give the local folder."
        ) from error


# -------------------------------------------------------------------------------------------------- reading


def read_state_dict(path: str | Path, *, what: str) -> dict[str, torch.Tensor]:
    """Read a checkpoint file (torch pickle or ``.safetensors``) into a flat state dict of tensors.

    Accepts the layouts checkpoints are published in: a bare state dict, one nested under ``state_dict`` /
    ``model`` / ``module`` (next to e.g. an epoch counter), and keys all prefixed with ``module.``
    (DistributedDataParallel). Pickles load with ``weights_only=True``: a checkpoint from the internet must not
    run code. Raises :class:`ComponentError` naming the file when it is missing, unreadable or not a state dict.
    """
    import torch

    file = Path(path).expanduser()
    if not file.is_file():
        raise ComponentError(f"{what}: checkpoint file {str(file)!r} does not exist")
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(file))
        else:
            state = torch.load(str(file), map_location="cpu", weights_only=True)
    except Exception as error:  # pickle, zip and safetensors errors share no base class
        raise ComponentError(f"{what}: cannot read checkpoint {str(file)!r}: {error}") from error
    for key in NESTING_KEYS:
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ComponentError(f"{what}: {str(file)!r} does not hold a state dict of tensors")
    if state and all(k.startswith(DDP_PREFIX) for k in state):
        state = {k[len(DDP_PREFIX) :]: v for k, v in state.items()}
    return dict(state)


def read_safetensors_folder(folder: Path, *, what: str, label: str = "") -> dict[str, torch.Tensor]:
    """Every ``*.safetensors`` shard of a model folder merged into one state dict, keys as saved; ``label`` (e.g.
    ``"base model folder "``) says which folder in the error when there is none."""
    from safetensors.torch import load_file

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ComponentError(f"{what}: no *.safetensors weights in {label}{str(folder)!r}")
    state: dict[str, torch.Tensor] = {}
    for file in files:
        state.update(load_file(str(file)))
    return state


def load_strict(
    module: torch.nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    what: str,
    source: str,
    model: str = "the model",
    shape_hint: str = "",
) -> None:
    """Load ``state`` into ``module``, failing with one readable list of missing, unexpected and mis-shaped keys.

    A reward silently scoring with half-random weights is the worst failure mode there is, so every key the module
    has must be present with the right shape, and nothing else may be there (an extra key usually means the wrong
    architecture). ``model`` names the architecture in the message; ``shape_hint`` is appended to the mis-shaped
    part, for components where a wrong shape has a usual cause (e.g. ``" — check med_config"``).
    """
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:5])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:5])})")
        if shapes:
            parts.append(f"{len(shapes)} mis-shaped tensors (e.g. {'; '.join(shapes[:3])}){shape_hint}")
        raise ComponentError(f"{what}: checkpoint {source!r} does not fit {model}: " + "; ".join(parts))
    module.load_state_dict(dict(state), strict=True)


# -------------------------------------------------------------------------------------------------- writing


def save_state_dict(state: Mapping[str, torch.Tensor], path: str | Path, *, nest_under: str | None = None) -> Path:
    """Write ``state`` as ``.safetensors`` (by the file's ending) or a torch pickle; :func:`read_state_dict` reads
    either back. ``nest_under`` wraps the pickle as ``{nest_under: state}``, the layout many published checkpoints
    use (safetensors files cannot nest). Tensors are made contiguous, which safetensors requires."""
    import torch

    file = Path(path)
    tensors = {k: v.contiguous() for k, v in state.items()}
    if file.suffix == ".safetensors":
        if nest_under is not None:
            raise ValueError("safetensors files hold a flat dict of tensors: nest_under needs a pickle file")
        from safetensors.torch import save_file

        save_file(tensors, str(file))
    else:
        torch.save(tensors if nest_under is None else {nest_under: tensors}, file)
    return file


Init = Callable[[str, "torch.Tensor", "torch.Tensor"], "torch.Tensor"]
"""``init(key, like, noise)``: the value of the tensor ``key`` (shaped like ``like``) from standard-normal noise."""


def default_init(key: str, like: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Scales that keep a transformer's activations O(1) through its depth, so scores differ visibly between
    inputs: biases 0.1·noise, vectors (LayerNorm scales) 1 + 0.1·noise, embeddings 0.5·noise, and matrices
    noise / sqrt(fan-in)."""
    if key.endswith("bias"):
        return 0.1 * noise
    if like.ndim <= 1:
        return 1.0 + 0.1 * noise
    if "embedding" in key:
        return 0.5 * noise
    fan_in = 1
    for size in like.shape[1:]:
        fan_in *= int(size)
    return noise / fan_in**0.5


def seeded_state(
    reference: Mapping[str, torch.Tensor], seed: int = 0, init: Init = default_init
) -> dict[str, torch.Tensor]:
    """Deterministic random weights for every floating tensor of ``reference`` (the others are copied).

    Each tensor's noise comes from its own generator, seeded from ``seed`` and the key's CRC32, so its values do
    not depend on which other keys a model holds: a reference implementation (with, say, unused projections) and
    our port then get identical values for every shared key, which is what golden-value parity tests need (and
    why this lives here rather than in a test suite: the golden-value scripts import it in the reference's own
    environment). ``init`` turns the noise into the value; the result takes ``reference``'s dtypes.
    """
    import torch

    out: dict[str, torch.Tensor] = {}
    for key, tensor in reference.items():
        if not tensor.is_floating_point():
            out[key] = tensor.clone()
            continue
        generator = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(key.encode()))
        noise = torch.randn(tuple(tensor.shape), generator=generator, dtype=torch.float32)
        out[key] = init(key, tensor, noise).to(tensor.dtype)
    return out
