"""The data directory (password and token hashes, users' blocks) is the server account's alone: files 0600 in 0700
directories under a permissive umask, and what an older release left open is narrowed at start, with a log line."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from util import ServerFactory, ServerProcess

from ferrysync.server.hashing import block_hash


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)  # the server processes started meanwhile inherit it
    try:
        yield
    finally:
        os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def _use(server: ServerProcess) -> None:
    """Everything that creates files: users, a login, a small block (packs) and a big one (a file), a commit."""
    server.add_user("alice", "alice-pw")
    token = server.login("alice", "alice-pw")
    auth = {"Authorization": f"Bearer {token}"}
    digest = block_hash(b"private bytes")
    assert requests.put(f"{server.url}/v1/blocks/{digest}", data=b"private bytes", headers=auth,
                        timeout=10).status_code == 201
    big = os.urandom(2 * 1024 * 1024)
    assert requests.put(f"{server.url}/v1/blocks/{block_hash(big)}", data=big, headers=auth,
                        timeout=30).status_code == 201
    op = {"op": "put", "path": "secret.txt", "blocks": [digest], "size": 13, "mtime_ns": 1, "base_rev": None}
    assert requests.post(f"{server.url}/v1/commit", json={"ops": [op]}, headers=auth, timeout=10).json()[
        "results"][0]["ok"]


@pytest.mark.usefixtures("umask_022")
def test_under_umask_022_every_file_is_0600_and_every_directory_0700(server_factory: ServerFactory) -> None:
    server = server_factory.make()
    _use(server)
    modes = _modes(server.data)
    assert "ferry.db" in modes
    assert any(name.startswith("blocks/") and len(Path(name).name) == 64 for name in modes)  # a big block's file
    assert {"packs/00000001.pack", "packs/index.db"} <= set(modes)  # where the small one went
    wrong = {name: f"{mode:04o}" for name, mode in modes.items()
             if mode != (0o700 if (server.data / name).is_dir() else 0o600)}
    assert wrong == {}


@pytest.mark.usefixtures("umask_022")
def test_a_data_dir_left_readable_is_narrowed_at_start_and_the_log_says_so(server_factory: ServerFactory) -> None:
    server = server_factory.make()
    _use(server)
    server.stop()
    server.data.chmod(0o755)  # as an older release, or a hand-made directory, left them
    (server.data / "ferry.db").chmod(0o644)
    server.start()
    assert stat.S_IMODE(server.data.stat().st_mode) == 0o700
    assert stat.S_IMODE((server.data / "ferry.db").stat().st_mode) == 0o600
    log = server.log.read_text(errors="replace")
    assert f"narrowed {server.data} from 0755 to 0700" in log
    assert f"narrowed {server.data / 'ferry.db'} from 0644 to 0600" in log
    assert server.login("alice", "alice-pw")  # and it still works
