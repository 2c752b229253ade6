"""Next-token probabilities of several continuations of one prompt, its shared prefix encoded once per candidate.

A checklist asks the VLM many questions about the same frames, and a rubric judge reads several scores after the
same video: the system text, the images (or video) and the text before the question are the same every time, and
they are nearly all of the prompt. :class:`SharedPrefix` runs the processor and the model over that prefix once for
a chunk of candidates, keeps its key/value cache (a transformers ``DynamicCache``), and runs the continuations from
copies of it (``copy.deepcopy``, then the candidate's rows), ``batch_size`` continuations per forward pass,
right-padded so that every token sits where it sits in the whole prompt. Each continuation token gets the position
it has in a forward pass over the whole prompt: the cache's length (as transformers counts on) or, for M-RoPE models
(Qwen2-VL, Qwen2.5-VL, Qwen3-VL), the prefix's real length plus its ``rope_deltas``. The model thus sees the same
tokens at the same positions as one pass over the whole prompt, and the probabilities are equal up to float
rounding (tests/test_prefix.py).

One full forward pass per continuation (the whole prompt, as before the cache was shared) is the fallback: asked
for with ``share=False``, and taken when a continuation does not tokenize as the prefix's tokens followed by its own
(a tokenizer merging across the boundary), so the tokens are never other than the whole prompt's.
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from f2g_plugin_transformers_vlm.answers import option_log_probs

log = logging.getLogger("f2g.lvlm")


def model_inputs(inputs: Mapping[str, Any], model: Any) -> dict[str, Any]:
    """The processor's outputs on the model's device, floating-point tensors (pixels) in its dtype."""
    import torch

    parameter = next(model.parameters())
    return {
        k: (v.to(parameter.device, parameter.dtype) if torch.is_floating_point(v) else v.to(parameter.device))
        if hasattr(v, "to")
        else v
        for k, v in inputs.items()
    }


def _accepts(model: Any, name: str) -> bool:
    return name in inspect.signature(model.forward).parameters


def _cache_name(model: Any) -> str:
    """The forward argument (and output field) of the key/value cache: ``cache`` from transformers 5 on."""
    return "cache" if _accepts(model, "cache") else "past_key_values"


def last_log_probs(model: Any, inputs: Mapping[str, Any]) -> Any:
    """(rows, vocab) float32 log-probabilities of the token after each (left-padded) row of one forward pass; only
    the last position's logits are computed where the model allows (``logits_to_keep``)."""
    import torch

    extra = {"logits_to_keep": 1} if _accepts(model, "logits_to_keep") else {}
    with torch.inference_mode():
        logits = model(**inputs, **extra).logits[:, -1, :].float()
    return torch.log_softmax(logits, dim=-1)


@dataclass
class SharedPrefix:
    """One prompt prefix shown with each candidate's media, and continuations read after it.

    ``media``: the processor's image or video arguments for the ``rows`` candidates (lists hold one entry per
    candidate). ``passes`` counts the forward passes made (prefix, continuations or whole prompts).
    """

    model: Any
    processor: Any
    prefix: str
    media: Mapping[str, Any]
    rows: int
    batch_size: int
    share: bool = True
    passes: int = field(default=0, init=False)
    _cache: Any = field(default=None, init=False, repr=False)
    _mask: Any = field(default=None, init=False, repr=False)
    _starts: Any = field(default=None, init=False, repr=False)
    """(rows,) the M-RoPE position of the first continuation token; None: the cache's length (1-D positions)."""

    def option_log_probs(self, suffixes: Sequence[Sequence[str]], option_ids: Sequence[Sequence[int]]) -> Any:
        """(rows, k, options) float32 log-probabilities of each option after ``prefix + suffixes[row][j]``."""
        if len(suffixes) != self.rows or len({len(s) for s in suffixes}) > 1:
            raise ValueError(f"give the same number of continuations for each of the {self.rows} candidates")
        ids = self._suffix_ids(suffixes) if self.share else None
        if ids is None:
            return self._whole(suffixes, option_ids)
        return self._continued(ids, option_ids)

    # ------------------------------------------------------------------ the shared path

    def _suffix_ids(self, suffixes: Sequence[Sequence[str]]) -> list[list[list[int]]] | None:
        """Each continuation's own token ids after the prefix's, or None where one does not split cleanly."""
        tokenizer = self.processor.tokenizer
        head = tokenizer(self.prefix)["input_ids"]
        own: dict[str, list[int]] = {}
        for suffix in {suffix for row in suffixes for suffix in row}:
            whole = tokenizer(self.prefix + suffix)["input_ids"]
            if whole[: len(head)] != head or len(whole) == len(head):
                log.info("the continuation %r does not tokenize apart from the prompt: whole passes", suffix[:40])
                return None
            own[suffix] = whole[len(head) :]
        return [[own[suffix] for suffix in row] for row in suffixes]

    def _encode(self) -> None:
        """One forward pass over the prefix with the candidates' media; keeps its cache, mask and positions."""
        import torch

        inputs = model_inputs(
            self.processor(text=[self.prefix] * self.rows, return_tensors="pt", padding=True, **self.media),
            self.model,
        )
        inner = getattr(self.model, "model", None)
        if inner is not None and hasattr(inner, "rope_deltas"):
            inner.rope_deltas = None  # recomputed from this prefix's media, never a stale one
        extra = {"logits_to_keep": 1} if _accepts(self.model, "logits_to_keep") else {}
        with torch.inference_mode():
            out = self.model(**inputs, use_cache=True, **extra)
        self.passes += 1
        self._cache = getattr(out, _cache_name(self.model))
        self._mask = inputs["attention_mask"]
        deltas = getattr(inner, "rope_deltas", None)
        if deltas is not None:
            self._starts = self._mask.sum(dim=-1) + deltas.reshape(-1).to(self._mask.device)

    def _continued(self, suffix_ids: list[list[list[int]]], option_ids: Sequence[Sequence[int]]) -> Any:
        import torch

        if self._cache is None:
            self._encode()
        k = len(suffix_ids[0])
        pairs = [(row, j) for row in range(self.rows) for j in range(k)]
        out = torch.empty(self.rows, k, len(option_ids))
        device = self._mask.device
        pad = self.processor.tokenizer.pad_token_id or 0
        for start in range(0, len(pairs), self.batch_size):
            part = pairs[start : start + self.batch_size]
            tokens = [suffix_ids[row][j] for row, j in part]
            width = max(len(t) for t in tokens)
            ids = torch.full((len(part), width), pad, dtype=torch.long, device=device)
            mask = torch.zeros(len(part), width, dtype=self._mask.dtype, device=device)
            for n, t in enumerate(tokens):  # right padding: the real tokens keep their places, the pads come after
                ids[n, : len(t)] = torch.tensor(t, dtype=torch.long)
                mask[n, : len(t)] = 1
            rows = torch.tensor([row for row, _ in part], device=device)
            kwargs: dict[str, Any] = {}
            if self._starts is not None:
                positions = self._starts[rows, None] + torch.arange(width, device=device)
                kwargs["position_ids"] = positions.unsqueeze(0).expand(3, -1, -1)
            with torch.inference_mode():
                cache = copy.deepcopy(self._cache)
                cache.batch_select_indices(rows)
                kwargs[_cache_name(self.model)] = cache
                logits = self.model(
                    input_ids=ids, attention_mask=torch.cat([self._mask[rows], mask], dim=1), use_cache=True, **kwargs
                ).logits
                last = torch.tensor([len(t) - 1 for t in tokens], device=device)
                log_probs = torch.log_softmax(logits[torch.arange(len(part), device=device), last].float(), dim=-1)
            self.passes += 1
            pooled = option_log_probs(log_probs, option_ids).cpu()
            for n, (row, j) in enumerate(part):
                out[row, j] = pooled[n]
        return out

    # ------------------------------------------------------------------ the fallback

    def _whole(self, suffixes: Sequence[Sequence[str]], option_ids: Sequence[Sequence[int]]) -> Any:
        """One forward pass over the whole prompt per continuation index (all candidates together)."""
        import torch

        k = len(suffixes[0])
        out = torch.empty(self.rows, k, len(option_ids))
        for j in range(k):
            texts = [self.prefix + row[j] for row in suffixes]
            inputs = self.processor(text=texts, return_tensors="pt", padding=True, **self.media)
            out[:, j] = option_log_probs(last_log_probs(self.model, model_inputs(inputs, self.model)), option_ids).cpu()
            self.passes += 1
        return out
