"""Exceptions with messages meant for users: the CLI prints them as one line, without a traceback."""

from __future__ import annotations

import re

_LONG_QUOTED = re.compile(r"(?<!\w)(['\"])([^'\"]{121,})\1(?!\w)")
"""A quoted value (``repr`` of a prompt …): a quote opens after a non-word character and closes before one, so the
apostrophes of words like README's in an error's prose are not taken for quotes."""


class F2GError(Exception):
    """Base class of every error f2g raises on purpose; its message says what is wrong and how to fix it."""

    exit_code = 1
    """The ``f2g`` command's exit status for this error (docs/cli.md)."""


class ConfigError(F2GError, ValueError):
    """A run configuration (file, dict, CLI flag or component options) is invalid.

    ``location`` is the config path of the bad value (``("guidance", "options", "lam")``) when the error was
    found after the layers were merged, so the CLI can name the file, flag or ``--set`` that set it.
    """

    exit_code = 2

    def __init__(self, message: str, location: tuple[str | int, ...] | None = None) -> None:
        super().__init__(message)
        self.location = location


class UnguidedRun(F2GError):
    """Guidance was planned but no step's selection used a valid reward score: the video is unguided.

    The CLI raises it after saving the video (nothing is lost) unless ``--allow-unguided`` is given.
    """

    exit_code = 3


class PluginError(F2GError):
    """A plugin failed to load or registered something inconsistent (e.g. a duplicate component id)."""


class ComponentError(F2GError):
    """A component failed while loading or running (missing weights, a bad checkpoint, a remote failure)."""


class CredentialsError(ComponentError):
    """A remote service rejected the credentials (HTTP 401 / 403): every later request would be rejected too.

    ``f2g eval`` stops the whole run on it (one rejected step, not one per job); the message names the key's
    environment variable.
    """


class BudgetExceeded(F2GError):
    """Raised by a reward when its next call would exceed a configured budget (cost or number of calls).

    The sampler reacts by finishing the video unguided and recording the stop in the trace; it never aborts the
    run, so nothing computed so far is lost.
    """


def shorten_values(message: str, keep: int = 60) -> str:
    """``message`` with every quoted value over 120 characters cut to its start and its length.

    Errors quote what the user gave; a 10,000-character prompt must not make a 20 KB error line.
    """
    return _LONG_QUOTED.sub(lambda m: f"{m[1]}{m[2][:keep]}…{m[1]} ({len(m[2])} characters)", message)
