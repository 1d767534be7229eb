"""Where the daemon keeps its device token: the OS keyring, or — only when the user opts in — a 0600 file.

The keyring service is `ferry_paths().keyring_service` (distinct per FERRY_HOME, so several "devices" on one
machine keep separate tokens) and the account name is `user@server_url`. When no keyring backend works we
refuse with an error saying how to fix it, rather than silently writing the token somewhere weaker.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Protocol

import keyring
import keyring.core
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail

from ferrysync.daemon.atomic import atomic_write
from ferrysync.daemon.paths import FerryPaths, ferry_paths

FILE_NAME = "credentials.json"

_HOW_TO_FIX = (
    "Install and unlock a Secret Service provider (for example gnome-keyring, or KeePassXC with its Secret "
    "Service integration enabled) and log in again; or, knowing the token is then kept in a plain file "
    "readable only by you, opt in with `ferry login --plaintext-credentials` or "
    "`credentials_store = \"file\"` in config.toml."
)


class CredentialsError(Exception):
    """The token could not be read, stored or removed."""


class KeyringUnavailable(CredentialsError):
    """No usable OS keyring backend on this machine (typical of headless Linux without a Secret Service)."""


class TokenStore(Protocol):
    def get_token(self, user: str, server_url: str) -> str | None: ...

    def set_token(self, user: str, server_url: str, token: str) -> None: ...

    def delete_token(self, user: str, server_url: str) -> None: ...


def account_name(user: str, server_url: str) -> str:
    return f"{user}@{server_url.rstrip('/')}"


def _explicitly_chosen() -> bool:
    """Did the user name a keyring backend (env var or keyringrc), rather than keyring guessing one?"""
    if os.environ.get("PYTHON_KEYRING_BACKEND"):
        return True
    try:
        return keyring.core.load_config() is not None
    except Exception:  # noqa: BLE001 - a broken keyringrc may name any backend class, which may raise anything;
        # keyring itself will complain where it matters
        return False


def _plaintext_only(backend: KeyringBackend) -> bool:
    members = backend.backends if isinstance(backend, chainer.ChainerBackend) else [backend]
    return bool(members) and all(type(b).__module__.startswith("keyrings.alt") for b in members)


def check_backend(backend: KeyringBackend, *, auto_detected: bool = False) -> None:
    """Raise KeyringUnavailable unless `backend` can actually store secrets. A plaintext backend from
    keyrings.alt counts only when chosen on purpose: installed by accident, it would be a silent downgrade."""
    why = ""
    if isinstance(backend, fail.Keyring):
        why = "keyring found no backend (fail.Keyring)"
    elif isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        why = "keyring's chainer has no viable backend"
    elif auto_detected and _plaintext_only(backend) and not _explicitly_chosen():
        why = f"the only backend found is an unencrypted file ({type(backend).__name__} from keyrings.alt)"
    if why:
        raise KeyringUnavailable(f"Ferry keeps its device token in the OS keyring, but {why}. {_HOW_TO_FIX}")


class KeyringStore:
    """Tokens in the OS keyring (Secret Service, macOS Keychain, Windows Credential Locker)."""

    def __init__(self, service: str | None = None, backend: KeyringBackend | None = None) -> None:
        self.service = service or ferry_paths().keyring_service
        self.backend = backend or keyring.get_keyring()
        check_backend(self.backend, auto_detected=backend is None)

    def _fail(self, action: str, exc: Exception) -> CredentialsError:
        if isinstance(exc, keyring.errors.NoKeyringError | keyring.errors.InitError):
            return KeyringUnavailable(f"cannot {action} the device token: {exc}. {_HOW_TO_FIX}")
        if isinstance(exc, keyring.errors.KeyringLocked):
            return CredentialsError(f"cannot {action} the device token: the keyring is locked; unlock it "
                                    f"(log in to your desktop session or open your keyring app) and retry")
        return CredentialsError(f"cannot {action} the device token in {type(self.backend).__name__}: {exc}")

    def get_token(self, user: str, server_url: str) -> str | None:
        try:
            return self.backend.get_password(self.service, account_name(user, server_url))
        except keyring.errors.KeyringError as exc:
            raise self._fail("read", exc) from exc

    def set_token(self, user: str, server_url: str, token: str) -> None:
        try:
            self.backend.set_password(self.service, account_name(user, server_url), token)
        except keyring.errors.KeyringError as exc:
            raise self._fail("store", exc) from exc

    def delete_token(self, user: str, server_url: str) -> None:
        try:
            self.backend.delete_password(self.service, account_name(user, server_url))
        except keyring.errors.PasswordDeleteError:
            return  # nothing stored: already gone
        except keyring.errors.KeyringError as exc:
            raise self._fail("remove", exc) from exc


class FileStore:
    """Opt-in plain-file store: JSON {account: token} under the config dir, mode 0600, replaced atomically."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or ferry_paths().config_dir / FILE_NAME

    def _load(self) -> dict[str, str]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return {}
        if os.name == "posix" and stat.S_IMODE(st.st_mode) & 0o077:
            os.chmod(self.path, 0o600)  # someone widened it: narrow it back before reading a secret
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CredentialsError(f"cannot read the credentials file {self.path}: {exc}") from exc
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise CredentialsError(f"the credentials file {self.path} is not a JSON object of strings")
        return data

    def _save(self, data: dict[str, str]) -> None:
        atomic_write(self.path, json.dumps(data, indent=1, sort_keys=True).encode("utf-8"), mode=0o600)

    def get_token(self, user: str, server_url: str) -> str | None:
        return self._load().get(account_name(user, server_url))

    def set_token(self, user: str, server_url: str, token: str) -> None:
        data = self._load()
        data[account_name(user, server_url)] = token
        self._save(data)

    def delete_token(self, user: str, server_url: str) -> None:
        data = self._load()
        if data.pop(account_name(user, server_url), None) is not None:
            self._save(data)


def open_store(kind: str = "keyring", paths: FerryPaths | None = None) -> TokenStore:
    """The store named by config `credentials_store` ("keyring", the default, or "file" when opted in)."""
    p = paths or ferry_paths()
    if kind == "keyring":
        return KeyringStore(p.keyring_service)
    if kind == "file":
        return FileStore(p.config_dir / FILE_NAME)
    raise ValueError(f'credentials_store must be "keyring" or "file", not {kind!r}')
