"""A provider reached through an official Python SDK shaped like ``openai``'s and ``anthropic``'s.

Both SDKs (and others generated the same way) have an async client taking ``api_key``, ``base_url``, ``timeout``
and ``max_retries``, raise ``APIConnectionError`` for timeouts and refused connections and
``APIResponseValidationError`` for bodies that are not a completion, and put ``status_code`` on HTTP errors. A
provider built on such an SDK names its module and client class and implements only
:meth:`~f2g_lvlm.reward.LVLMReward.send`; the SDK is imported at ``load()``, never at plugin import.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, ClassVar

from f2g_lvlm.retry import Failure
from f2g_lvlm.reward import LVLMReward


class SDKReward(LVLMReward):
    """:class:`LVLMReward` with the client, SDK import and error classification of an official SDK."""

    sdk_module: ClassVar[str] = ""
    """Import name of the SDK (``openai``)."""
    client_class: ClassVar[str] = ""
    """Its async client class (``AsyncOpenAI``)."""

    def sdk(self) -> ModuleType:
        return importlib.import_module(self.sdk_module)

    def import_sdk(self) -> None:
        self.sdk()

    def make_client(self, api_key: str | None) -> Any:
        client = getattr(self.sdk(), self.client_class)
        # The SDK's own retries are off: the reward retries, counts every retry and honours Retry-After itself.
        return client(api_key=api_key, base_url=self.base_url(), timeout=self.options.timeout, max_retries=0)

    def classify(self, exc: BaseException) -> Failure:
        sdk = self.sdk()
        if isinstance(exc, sdk.APIConnectionError | sdk.APIResponseValidationError):
            return Failure.TRANSIENT  # timeouts, refused connections, bodies that are not a completion
        return super().classify(exc)
