"""`ferry share`'s pure parts: the --expires durations, and which server path a `share` request names."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from ferrysync.daemon.cli.shares import parse_duration
from ferrysync.daemon.control.shares import server_path_of
from ferrysync.daemon.engine.engine import Engine
from ferrysync.daemon.ipc.protocol import IpcError, validate_params


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("30m", 1800), ("12h", 43200),
                                               ("7d", 604800), ("2w", 1209600), (" 7D ", 604800)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "0", "0d", "-1d", "1.5d", "7 days", "1y", "9" * 12])
def test_bad_durations_say_why(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


class _Folder:
    root = Path("/home/me/Ferry")

    class ctx:  # mirrors FolderSync.ctx.prefix
        prefix = "Shared"

    class cfg:  # mirrors FolderSync.cfg.encrypted
        encrypted = False


class _Vault:
    root = Path("/home/me/Vault")

    class ctx:
        prefix = "Vault"

    class cfg:
        encrypted = True


def _locate(_engine: Engine, local: str) -> tuple[Any, str]:
    if local.startswith("/home/me/Ferry/"):
        return _Folder(), local.removeprefix("/home/me/Ferry/")
    if local.startswith("/home/me/Vault/"):
        return _Vault(), local.removeprefix("/home/me/Vault/")
    raise ValueError(f"{local} is not inside a synced folder")


ENGINE = cast(Engine, SimpleNamespace(folders={
    "f1": SimpleNamespace(root=Path("/home/me/Ferry"), ctx=SimpleNamespace(prefix="Shared"),
                          cfg=SimpleNamespace(encrypted=False)),
    "f2": SimpleNamespace(root=Path("/home/me/All"), ctx=SimpleNamespace(prefix=""),
                          cfg=SimpleNamespace(encrypted=False)),
    "f3": SimpleNamespace(root=Path("/home/me/Vault"), ctx=SimpleNamespace(prefix="Vault"),
                          cfg=SimpleNamespace(encrypted=True)),
}))


def test_nothing_in_an_encrypted_folder_is_shared_by_a_link() -> None:
    """The server holds only ciphertext there: a link could serve nothing a visitor can read."""
    for local, remote in (("/home/me/Vault", "/home/me/Vault"), ("/home/me/Vault/a.txt", "Vault/a.txt"),
                          ("/elsewhere", "Vault/x"), ("/elsewhere", "/Vault")):
        with pytest.raises(IpcError, match="end-to-end encrypted") as err:
            server_path_of(ENGINE, _locate, local, remote)
        assert err.value.code == "bad_request"
    assert server_path_of(ENGINE, _locate, "/elsewhere", "Vaults/x") == "Vaults/x"  # only the folder itself


def test_a_local_path_maps_through_its_folder_and_anything_else_is_a_server_path() -> None:
    assert server_path_of(ENGINE, _locate, "/home/me/Ferry/a/b.txt", "Ferry/a/b.txt") == "Shared/a/b.txt"
    assert server_path_of(ENGINE, _locate, "/Docs/report.pdf", "/Docs/report.pdf") == "Docs/report.pdf"
    assert server_path_of(ENGINE, _locate, "/cwd/Docs/x", "Docs//x/") == "Docs/x"
    assert server_path_of(ENGINE, _locate, "/x/Cafe\u0301", "Cafe\u0301") == "Caf\u00e9"  # NFC, as the server wants
    assert server_path_of(ENGINE, _locate, "/home/me/Ferry", "/home/me/Ferry") == "Shared"  # the folder itself
    with pytest.raises(IpcError, match="whole account"):
        server_path_of(ENGINE, _locate, "/home/me/All", "/home/me/All")
    for remote in ("/../etc/passwd", "a/../../b", "/", "", None):
        with pytest.raises(IpcError) as err:
            server_path_of(ENGINE, _locate, "/elsewhere", remote)
        assert err.value.code == "bad_request"


def test_the_share_methods_parameters_are_checked() -> None:
    assert validate_params("share", {"path": "/a", "expires_in": 60, "password": "pw"}) is None
    assert validate_params("share", {"path": "/a", "expires_in": 0}) is not None
    assert validate_params("share", {"path": "/a", "expires_in": True}) is not None
    assert validate_params("share", {"path": "/a", "expires": 60}) is not None
    assert validate_params("unshare", {}) is not None
    assert validate_params("unshare", {"id": "abc"}) is None
