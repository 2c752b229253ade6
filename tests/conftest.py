"""Shared settings for the core test suite: never touch a model hub."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
