"""One loading path for the components that run a published model through a model-specific engine.

A reward and its eval metric (``videoscore``, ``videoreward``) load the same way: make torchvision importable,
resolve the ``device`` and ``dtype`` options, then build the engine, either the seeded miniature (``model: tiny``,
offline, for tests and demos) or the checkpoint in a local folder or hub repo, and keep it until closed. What
differs is the engine (network, tokenizer, preprocessing), so the plugin passes its engine class in
(:attr:`EngineHost.engine_class`) and the class knows how to build both kinds. torch and transformers are imported
by the engines when they build, never when a plugin is imported to be listed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Protocol, Self, TypeVar

from pydantic import Field

from f2g_torch_utils.devices import resolve_device, resolve_dtype
from f2g_torch_utils.frames import TorchRewardOptions

if TYPE_CHECKING:
    import torch


class ModelFolderOptions(TorchRewardOptions):
    """Options of a component whose model is a checkpoint folder (or hub repo) or the seeded miniature ``tiny``."""

    model: str = Field(
        description="Hub repo or local folder of the checkpoint, or 'tiny': a seeded random miniature built "
        "offline for tests and demos."
    )
    attn_implementation: Literal["sdpa", "eager"] = Field("sdpa", description="Attention kernel of the network.")
    seed: int = Field(0, ge=0, description="Seed of the random weights of model: tiny.")
    cache_dir: str | None = Field(None, description="Hugging Face cache folder for downloads.")


class EngineSettings(Protocol):
    """What every engine's settings tell the log: where the weights came from."""

    @property
    def source(self) -> str: ...


class Engine(Protocol):
    """A loaded model: built from options, on a device, in a dtype; its :attr:`settings` name the source."""

    @property
    def settings(self) -> EngineSettings: ...

    @classmethod
    def tiny(cls, options: Any, device: torch.device, dtype: torch.dtype) -> Self:
        """The seeded miniature (``options.seed``): same architecture and preprocessing, no download."""
        ...

    @classmethod
    def published(cls, options: Any, device: torch.device, dtype: torch.dtype) -> Self:
        """The checkpoint ``options.model`` names (local folder or hub repo)."""
        ...


E = TypeVar("E", bound=Engine)


class EngineHost(Generic[E]):
    """Loads :attr:`engine_class` once, on first use or :meth:`load`, and drops it on :meth:`close`.

    Mixed into a reward or metric (before :class:`~f2g_core.interfaces.Reward` / ``Metric``, whose ``load`` and
    ``close`` it provides); ``name`` is the component's id, which labels the log line.
    """

    name: ClassVar[str]
    engine_class: type[E]
    options: ModelFolderOptions
    _engine: E | None = None

    def load(self) -> None:
        if self._engine is not None:
            return
        from f2g_torch_utils.compat import ensure_torchvision

        ensure_torchvision()  # before transformers imports torchvision
        o = self.options
        device = resolve_device(o.device)
        dtype = resolve_dtype(o.dtype, device)
        build = self.engine_class.tiny if o.model == "tiny" else self.engine_class.published
        self._engine = build(o, device, dtype)
        logging.getLogger(f"f2g.{self.name}").info(
            "%s: loaded %s on %s (%s)", self.name, self._engine.settings.source, device, dtype
        )

    def close(self) -> None:
        self._engine = None

    @property
    def engine(self) -> E:
        """The loaded engine (loading it first if needed)."""
        if self._engine is None:
            self.load()
        assert self._engine is not None
        return self._engine
