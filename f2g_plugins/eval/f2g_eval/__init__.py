"""``f2g eval``: suites × seeds × configs, scored by held-out metrics, stored resumably, summarised and reported.

Modules, each with one job: :mod:`suites` (what to generate), :mod:`metrics` (how finished videos are scored),
:mod:`refs` (``NAME:key=value`` references to what plugins register), :mod:`jobs` (one job = item × seed ×
config, and running it on a pipeline), :mod:`store` (the SQLite results store and the directory lock),
:mod:`limits` (one concurrency limit and budget for remote rewards per eval run), :mod:`engines` (local threads,
Ray actors), :mod:`summary` (bootstrap intervals), :mod:`report` (the HTML report), :mod:`export` (VBench
layout), :mod:`runner` (a run from start to finish; the Python API), :mod:`cli` (the ``f2g eval`` command) and
:mod:`plugin` (which adds it to ``f2g`` through the ``register_commands`` hook).

A distribution of its own (``pip install f2g-eval``) on top of f2g-core, so the SDK stays small: the store's file
lock, the report's plots and the Ray engine are needed only here.
"""

from __future__ import annotations

__version__ = "0.2.0"
