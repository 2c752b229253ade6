"""The ``remote`` reward: scores with a reward that ``f2g serve reward`` hosts in another Python environment.

Why: a reward may pin library versions the pipeline cannot share (VideoAlign pins transformers 4.45.2, a new video
model needs a newer one). Serve the reward from its own environment and guide with ``type: remote`` here; the
frames go over as float32 bytes, so the scores equal the reward's in-process scores.

A request that cannot connect, times out or gets a 502/503/504 is retried (tenacity: ``retries`` more times,
exponential backoff). A server that stays away, or that answers something that is not an f2g reward server's
answer, raises :class:`~f2g_core.errors.ComponentError` naming the url and the fix — the run stops rather than
guiding blind. The reward's own failure on one batch (the server's 500) fails that batch alone (NaN scores).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field, field_validator

from f2g_core.errors import ComponentError
from f2g_core.interfaces import Reward, RewardBatch
from f2g_core.serving.protocol import PROTOCOL, decode_scores, encode_batch

RETRY_STATUS = frozenset({502, 503, 504})


class _Transient(Exception):
    """A failure worth another try (no connection, a timeout, a gateway error)."""


class _Answered(Exception):
    """The server answered with an error of its own (the body's ``error``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class RemoteReward(Reward):
    """A reward served by `f2g serve reward REWARD` in another Python environment, scored over HTTP on this machine."""

    name = "remote"

    class Options(Reward.Options):
        url: str = Field(description="The server's address, as `f2g serve reward` prints it: http://127.0.0.1:PORT.")
        timeout_s: float = Field(300.0, gt=0, description="Seconds one request may take (scoring included).")
        retries: int = Field(3, ge=0, description="More tries of a request that cannot connect or times out.")
        backoff_s: float = Field(0.5, ge=0, description="First wait before a retry; doubles each retry.")

        @field_validator("url")
        @classmethod
        def _http(cls, url: str) -> str:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http(s) URL; give what `f2g serve reward` prints")
            return url.rstrip("/")

    def __init__(self, options: Reward.Options | None = None) -> None:
        super().__init__(options)
        self.server: dict[str, Any] = {}
        """The server's ``/health`` answer (reward id, options, its Python), once loaded."""
        self._counts = {"calls": 0.0, "retries": 0.0}
        self._lock = threading.Lock()

    def _fix(self) -> str:
        return (
            f"start it in the reward's environment (`f2g serve reward REWARD --port {self._port()}`) or fix the "
            "remote reward's url option"
        )

    def _port(self) -> str:
        tail = self.options.url.rsplit(":", 1)[-1]
        return tail if tail.isdigit() else "PORT"

    def _request(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """The JSON answer of ``path`` (GET, or POST of ``body``), retried while the failure is transient."""
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

        url = self.options.url + path
        data = None if body is None else json.dumps(body, allow_nan=False).encode()
        retrying = Retrying(
            retry=retry_if_exception_type(_Transient),
            stop=stop_after_attempt(self.options.retries + 1),
            wait=wait_exponential(multiplier=self.options.backoff_s, max=30.0),
            reraise=True,
            before_sleep=lambda _: self._count("retries"),
        )
        try:
            return retrying(self._once, url, data)
        except _Transient as error:
            raise ComponentError(
                f"remote reward: no f2g reward server answers at {self.options.url} ({error}, "
                f"{self.options.retries + 1} tries); {self._fix()}"
            ) from None

    def _once(self, url: str, data: bytes | None) -> Any:
        request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.options.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            if error.code in RETRY_STATUS:
                raise _Transient(f"HTTP {error.code}") from None
            raise _Answered(error.code, self._error_text(error.read())) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise _Transient(f"{type(reason).__name__}: {reason}") from None
        try:
            return json.loads(raw)
        except ValueError:
            raise self._garbage(f"a body that is not JSON ({raw[:60]!r})") from None

    def _error_text(self, raw: bytes) -> str:
        try:
            message = json.loads(raw)["error"]
        except (ValueError, KeyError, TypeError):
            raise self._garbage(f"an error without an f2g error body ({raw[:60]!r})") from None
        return str(message)

    def _garbage(self, what: str) -> ComponentError:
        return ComponentError(
            f"remote reward: {self.options.url} answered {what}: it is not an f2g reward server (or another "
            f"version); {self._fix()}"
        )

    def _count(self, key: str, n: float = 1.0) -> None:
        with self._lock:
            self._counts[key] += n

    def load(self) -> None:
        """Ask the server who it is: fails at once, naming the url, when nothing (or something else) answers."""
        if self.server:
            return
        try:
            health = self._request("/health")
        except _Answered as error:
            raise self._garbage(f"HTTP {error.status} to GET /health") from None
        if not isinstance(health, dict) or health.get("status") != "ok" or "reward" not in health:
            raise self._garbage(f"{str(health)[:80]!r} to GET /health")
        if health.get("protocol") != PROTOCOL:
            raise ComponentError(
                f"remote reward: {self.options.url} speaks protocol {health.get('protocol')!r}, this f2g speaks "
                f"{PROTOCOL}: install the same f2g-core version in both environments"
            )
        self.server = health

    def check_key_frames(self, frame_indices: Sequence[int], num_frames: int) -> None:
        """The served reward's own check, when its server is up (else loading reports the missing server)."""
        try:
            self._request("/check", {"frame_indices": list(frame_indices), "num_frames": num_frames})
        except _Answered as error:
            if error.status == 422:
                raise ValueError(f"the served reward says: {error}") from None
        except ComponentError:
            return

    def score(self, batch: RewardBatch) -> Sequence[float]:
        self.load()
        self._count("calls")
        try:
            answer = self._request("/score", encode_batch(batch))
        except _Answered as error:
            if error.status >= 500:  # the reward failed on this batch: its scores are NaN (the scorer says why)
                raise RuntimeError(f"the served reward failed: {error}") from None
            raise ComponentError(f"remote reward: {self.options.url} refused a batch: {error}") from None
        try:
            return decode_scores(answer, len(batch))
        except ValueError as error:
            raise self._garbage(f"{error} to POST /score") from None

    def score_many(self, batches: Sequence[RewardBatch]) -> list[Sequence[float]]:
        """The batches sent at once (one request each, concurrently): shared by an eval's workers, this client
        must not make them wait in line; the server batches what arrives together."""
        if len(batches) <= 1:
            return [self.score(batch) for batch in batches]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=len(batches), thread_name_prefix="f2g-remote") as pool:
            return list(pool.map(self.score, batches))

    def usage(self) -> Mapping[str, float]:
        with self._lock:
            return dict(self._counts)

    def trace_info(self) -> Mapping[str, Any]:
        keys = ("reward", "options", "f2g", "python", "prefix", "trace_info")
        return {"url": self.options.url, **{f"server_{k}": self.server[k] for k in keys if k in self.server}}
