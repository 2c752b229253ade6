"""Retries of remote calls: exponential backoff with jitter that honours the server's ``Retry-After``.

Built on tenacity rather than the API clients' own retries because the reward must count every retry (they go
into the trace), tests need millisecond delays, and one policy should cover both providers. The clients are
therefore created with ``max_retries=0``.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # tenacity is imported by the first retrying call, not when a plugin registers its reward
    from tenacity import AsyncRetrying, RetryCallState


class Failure(Enum):
    """What to do about an exception raised by a call."""

    TRANSIENT = "transient"
    """Retry: rate limits, server errors, timeouts, connection errors, malformed bodies."""
    PERMANENT = "permanent"
    """Do not retry; the candidate scores NaN (e.g. HTTP 400 on one request)."""
    FATAL = "fatal"
    """Do not retry; raise — the configuration is wrong (bad key, no such model)."""


RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
FATAL_STATUS = frozenset({401, 403, 404})


def classify_status(status: int) -> Failure:
    """Failure kind of an HTTP error status."""
    if status in RETRYABLE_STATUS or status >= 500:
        return Failure.TRANSIENT
    if status in FATAL_STATUS:
        return Failure.FATAL
    return Failure.PERMANENT


def retry_after_seconds(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds a server asked us to wait: ``retry-after-ms``, or ``Retry-After`` as seconds or an HTTP date."""
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    value = lower.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = lower.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def response_headers(exc: BaseException) -> Mapping[str, str] | None:
    """Headers of the HTTP response attached to an SDK error (``exc.response.headers``), if any."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    return headers if headers is not None else None


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry transient failures (all delays in seconds)."""

    max_retries: int = 4
    initial: float = 1.0
    maximum: float = 30.0
    jitter: float = 1.0
    max_retry_after: float = 120.0
    """Upper bound on a server's ``Retry-After`` we are willing to sleep."""

    def retrying(
        self,
        is_transient: Callable[[BaseException], bool],
        on_retry: Callable[[RetryCallState], Any] | None = None,
    ) -> AsyncRetrying:
        """A tenacity ``AsyncRetrying`` that re-raises the last error when retries run out."""
        from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

        backoff = wait_exponential_jitter(multiplier=self.initial, max=self.maximum, jitter=self.jitter)

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome is not None else None
            asked = retry_after_seconds(response_headers(error)) if error is not None else None
            if asked is not None:
                return min(asked, self.max_retry_after)
            return float(backoff(state))

        return AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait,
            retry=retry_if_exception(is_transient),
            before_sleep=on_retry,
            reraise=True,
        )
