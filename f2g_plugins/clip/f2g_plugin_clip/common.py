"""Pieces the rewards of this package share: telling a checkpoint path from an open_clip tag, and the text cache.

Options, device/dtype, NaN masks, aggregation and checkpoint reading are shared with the other model plugins: see
:mod:`f2g_torch_utils`.

Nothing here imports torch at module level, so importing the plugin (to list it) stays cheap; the functions that
need torch import it when called, which only happens inside ``load()`` / ``score()``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from f2g_torch_utils.checkpoints import CHECKPOINT_SUFFIXES


def looks_like_path(value: str) -> bool:
    """Whether ``value`` names a file rather than an open_clip tag: it has a separator or a checkpoint ending.

    Unlike :func:`f2g_torch_utils.checkpoints.is_local_checkpoint`, a ``/`` is enough: open_clip tags never contain one.
    """
    return "/" in value or "\\" in value or value.startswith(("~", ".")) or value.endswith(CHECKPOINT_SUFFIXES)


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """A small thread-safe LRU: text embeddings are computed once per prompt, and rewards may run in a worker."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: K, make: Callable[[], V]) -> V:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        value = make()
        with self._lock:
            self.misses += 1
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
