"""API keys: environment, key store (0600), helpful errors, redaction."""

import os
import stat

import pytest

from f2g_core.errors import ConfigError
from f2g_core.keys import delete_key, key_store_path, list_keys, redact, resolve_key, set_key

pytestmark = pytest.mark.plugin_independent  # never loads the installed plugins (tests/conftest.py)


@pytest.fixture
def store(tmp_path, monkeypatch):
    path = tmp_path / "cfg" / "keys.json"
    monkeypatch.setenv("F2G_KEYS_FILE", str(path))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return path


def test_missing_key_says_how_to_set_it(store):
    with pytest.raises(ConfigError) as info:
        resolve_key("openai", "OPENAI_API_KEY")
    assert "export OPENAI_API_KEY=..." in str(info.value) and "f2g keys set openai" in str(info.value)


def test_store_round_trip_and_permissions(store):
    path = set_key("openai", "sk-stored-1234567890")
    assert path == store == key_store_path()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert resolve_key("openai", "OPENAI_API_KEY") == "sk-stored-1234567890"
    set_key("anthropic", "sk-ant-1")
    assert list_keys() == ["anthropic", "openai"]
    assert delete_key("openai") and not delete_key("openai")
    assert list_keys() == ["anthropic"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_environment_wins(store, monkeypatch):
    set_key("openai", "sk-stored")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    assert resolve_key("openai", "OPENAI_API_KEY") == "sk-env"


def test_bad_names_and_values(store):
    with pytest.raises(ConfigError):
        set_key("Open AI", "x")
    with pytest.raises(ConfigError):
        set_key("openai", "  ")


def test_corrupt_store_error_does_not_leak(store):
    store.parent.mkdir(parents=True)
    store.write_text('{"openai": "sk-secret-abcdef123456"')
    with pytest.raises(ConfigError) as info:
        resolve_key("openai", "OPENAI_API_KEY")
    assert "sk-secret" not in str(info.value)


def test_redact():
    key = "sk-proj-abcdefghijklmnop"
    assert redact(f"bad key {key}!", [key]) == "bad key [REDACTED]!"
    assert "abcdefgh" not in redact("Incorrect API key provided: sk-proj-abcdefgh****", [key])
    assert redact("nothing here", [key, None]) == "nothing here"
