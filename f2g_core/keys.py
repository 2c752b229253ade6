"""API keys: from the environment, or from a small key store file that only its owner can read.

``resolve_key("openai", "OPENAI_API_KEY")`` returns the environment variable if set, else the stored key, else
raises a :class:`~f2g_core.errors.ConfigError` that says exactly how to set one. Keys are kept out of configs
(components hold them as pydantic ``SecretStr``), and no function here ever puts a key's value in a message.
The store is a JSON file ``keys.json`` under ``platformdirs.user_config_dir("f2g")`` (override the path with
``$F2G_KEYS_FILE``), written atomically with mode 0600. The ``f2g keys set|list|delete`` commands wrap these
functions.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from f2g_core.errors import ConfigError

KEYS_FILE_ENV = "F2G_KEYS_FILE"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def key_store_path() -> Path:
    """Where stored keys live: ``$F2G_KEYS_FILE`` or ``<user config dir>/f2g/keys.json``."""
    override = os.environ.get(KEYS_FILE_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_config_dir("f2g")) / "keys.json"


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(f"invalid key name {name!r}: use lower-case letters, digits, '-', '_' or '.' (e.g. openai)")
    return name


def _read_store(path: Path | None = None) -> dict[str, str]:
    path = path or key_store_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"the key store {path} is unreadable ({type(exc).__name__}); fix or delete it") from None
    if not isinstance(data, dict):
        raise ConfigError(f"the key store {path} is not a JSON object; fix or delete it")
    return {str(k): str(v) for k, v in data.items()}


def _write_store(keys: dict[str, str], path: Path | None = None) -> Path:
    """Write atomically with mode 0600 (the temporary file is created 0600 before any key is written to it)."""
    path = path or key_store_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".keys-", suffix=".json", dir=path.parent)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(keys, handle, indent=2, sort_keys=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def get_stored_key(name: str) -> str | None:
    """The stored key ``name``, or None."""
    return _read_store().get(_check_name(name))


def resolve_key(name: str, env_var: str) -> str:
    """The key from ``$env_var`` if set and non-empty, else the key store, else a ConfigError saying how to set it."""
    value = os.environ.get(env_var, "").strip()
    if value:
        return value
    stored = get_stored_key(name)
    if stored:
        return stored
    raise ConfigError(
        f"no API key for {name}: set it with `export {env_var}=...` or store it with `f2g keys set {name}` "
        f"(saved in {key_store_path()})"
    )


def set_key(name: str, value: str) -> Path:
    """Store ``value`` as key ``name``; returns the store's path."""
    value = value.strip()
    if not value:
        raise ConfigError(f"refusing to store an empty key for {name}")
    keys = _read_store()
    keys[_check_name(name)] = value
    return _write_store(keys)


def delete_key(name: str) -> bool:
    """Remove key ``name``; returns whether it was stored."""
    keys = _read_store()
    if keys.pop(_check_name(name), None) is None:
        return False
    _write_store(keys)
    return True


def list_keys() -> list[str]:
    """Names of the stored keys (never their values), sorted."""
    return sorted(_read_store())


def mask(value: str) -> str:
    """A display form that reveals nothing useful: ``sk-…(51 chars)``."""
    return f"{value[:3]}…({len(value)} chars)" if len(value) > 8 else "…"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret (and any 8+ character prefix of one) replaced by ``[REDACTED]``.

    Servers sometimes echo part of a bad key ("Incorrect API key provided: sk-abc12***"); the prefix rule
    covers that.
    """
    for secret in secrets:
        if not secret or len(secret) < 4:
            continue
        text = text.replace(secret, "[REDACTED]")
        for length in range(len(secret) - 1, 7, -1):
            if secret[:length] in text:
                text = text.replace(secret[:length], "[REDACTED]")
                break
    return text
