"""Device tokens: kept in the OS keyring per FERRY_HOME; a clear error (never a silent downgrade) when no
keyring works; a 0600 file only when the user opts in."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.core
import pytest
from keyring.backends import chainer, fail
from keyrings.alt.file import PlaintextKeyring

from ferrysync.daemon.credentials import (
    CredentialsError,
    FileStore,
    KeyringStore,
    KeyringUnavailable,
    check_backend,
    open_store,
)
from ferrysync.daemon.paths import ferry_paths

URL = "https://ferry.example.org/"


@pytest.fixture
def test_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The recipe for tests: keyrings.alt's file backend, chosen by env var, storing under a temp XDG dir."""
    data = tmp_path / "xdg-data"
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    keyring.core.init_backend()
    yield data
    monkeypatch.undo()
    keyring.core.init_backend()


def test_two_ferry_homes_keep_separate_tokens(test_keyring: Path, tmp_path: Path) -> None:
    a = open_store("keyring", ferry_paths({"FERRY_HOME": str(tmp_path / "a")}))
    b = open_store("keyring", ferry_paths({"FERRY_HOME": str(tmp_path / "b")}))
    a.set_token("alice", URL, "token-a")
    assert a.get_token("alice", URL) == "token-a"
    assert a.get_token("alice", URL.rstrip("/")) == "token-a"  # one account per server, slash or not
    assert b.get_token("alice", URL) is None
    b.set_token("alice", URL, "token-b")
    assert (a.get_token("alice", URL), b.get_token("alice", URL)) == ("token-a", "token-b")
    a.delete_token("alice", URL)
    a.delete_token("alice", URL)  # deleting twice is fine
    assert a.get_token("alice", URL) is None
    assert b.get_token("alice", URL) == "token-b"
    assert any(test_keyring.rglob("*.cfg")), "the token went to the test's own keyring file"


def test_no_keyring_backend_is_a_clear_error() -> None:
    with pytest.raises(KeyringUnavailable) as info:
        KeyringStore("ferry", backend=fail.Keyring())
    msg = str(info.value)
    assert "Secret Service" in msg
    assert "gnome-keyring" in msg
    assert "--plaintext-credentials" in msg
    assert 'credentials_store = "file"' in msg


def test_chainer_without_viable_backends_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [])
    with pytest.raises(KeyringUnavailable, match="no viable backend"):
        check_backend(chainer.ChainerBackend())


def test_an_accidental_plaintext_backend_is_not_used_silently(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-keyringrc"))
    monkeypatch.setattr(keyring, "get_keyring", PlaintextKeyring)
    with pytest.raises(KeyringUnavailable, match="unencrypted file"):
        KeyringStore("ferry")


def test_headless_machine_without_keyring_in_a_real_process(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
           "FERRY_HOME": str(tmp_path / "home")}
    code = ("from ferrysync.daemon.credentials import open_store\n"
            "try:\n    open_store('keyring')\nexcept Exception as e:\n    print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith("KeyringUnavailable")
    assert "--plaintext-credentials" in out.stdout


def test_opt_in_file_store_is_private(tmp_path: Path) -> None:
    p = ferry_paths({"FERRY_HOME": str(tmp_path / "home")})
    store = open_store("file", p)
    assert isinstance(store, FileStore)
    assert store.path.parent == p.config_dir
    store.set_token("alice", URL, "t1")
    store.set_token("bob", URL, "t2")
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert json.loads(store.path.read_text()) == {"alice@https://ferry.example.org": "t1",
                                                  "bob@https://ferry.example.org": "t2"}
    store.path.chmod(0o644)
    assert store.get_token("bob", URL) == "t2"
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600  # narrowed back
    store.delete_token("bob", URL)
    assert store.get_token("bob", URL) is None
    assert store.get_token("alice", URL) == "t1"
    assert [f.name for f in store.path.parent.iterdir()] == [store.path.name]  # no temp left behind


def test_damaged_credentials_file_is_a_clear_error(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "credentials.json")
    store.path.write_text("{not json")
    with pytest.raises(CredentialsError, match="cannot read the credentials file"):
        store.get_token("alice", URL)
    assert store.path.read_text() == "{not json"  # left for the user to inspect


def test_unknown_store_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match='"keyring" or "file"'):
        open_store("plaintext", ferry_paths({"FERRY_HOME": str(tmp_path)}))
