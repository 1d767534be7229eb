"""A real daemon against what an attacker or a careless umask does: private files, unsafe restore paths, control
connections held open."""

from __future__ import annotations

import json
import os
import socket
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from devices import Device
from util import ServerFactory, ServerProcess, free_port, wait_until

from ferrysync.daemon.ipc.client import ControlClient
from ferrysync.daemon.ipc.protocol import IpcError
from ferrysync.daemon.paths import FerryPaths, ferry_paths


def _paths(d: Device) -> FerryPaths:
    return ferry_paths({"FERRY_HOME": str(d.home)})


def test_a_path_climbing_out_of_the_folder_is_refused_by_the_daemon(make_device: Callable[..., Device]) -> None:
    a = make_device("laptop")
    (a.folder / "essay.txt").write_text("draft")
    a.wait_synced()
    sneaky = f"{a.folder}/../../etc/passwd"
    for method in ("restore", "versions", "trash_restore"):
        with ControlClient(_paths(a)) as c, pytest.raises(IpcError) as info:
            c.call(method, path=sneaky)
        # refused by the daemon's own path rule (before: sent to the server, whose 400 came back as "failed")
        assert info.value.code == "bad_request", method
        assert "'..'" in info.value.message
        assert str(a.folder) in info.value.message
    assert a.status()["state"] in ("idle", "syncing"), "the daemon carries on"


def test_a_renewed_certificate_shows_as_a_pin_mismatch_not_offline(tmp_path: Path,
                                                                     server_factory: ServerFactory) -> None:
    from test_remote_tls import make_self_signed

    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    cert, key, pin = make_self_signed(tmp_path / "old")
    server = ServerProcess(data=tmp_path / "data", port=free_port(), log=tmp_path / "server.log",
                           extra_args=["--tls-cert", str(cert), "--tls-key", str(key)], scheme="https",
                           verify=str(cert))
    server.data.mkdir()
    server_factory.started.append(server)
    server.start()
    server.add_user("alice", "alice-pw")
    a = Device(name="laptop", home=tmp_path / "home", folder=tmp_path / "folder", keyring_dir=tmp_path / "keyring")
    a.ferry("login", server.url, "--user", "alice", "--password-stdin", "--pin", pin, input="alice-pw\n")
    try:
        a.start()
        a.add_folder()
        a.wait_synced()

        # The server's certificate is replaced (renewed, or someone in the middle): same address, another key.
        server.stop()
        cert2, key2, pin2 = make_self_signed(tmp_path / "new")
        server.extra_args, server.verify = ["--tls-cert", str(cert2), "--tls-key", str(key2)], str(cert2)
        server.start()
        status = wait_until(lambda: (s := a.status())["state"] == "error" and s, timeout=30,
                            what="the pin mismatch in the status")
        assert status["retry_in"] is None, "not retried as offline"
        folder = status["folders"][0]
        assert folder["state"] == "error"
        for words in ("does not match the pinned one", f"pinned {pin}", f"presents {pin2}", "`ferry login`"):
            assert words in folder["message"], folder["message"]
        assert "Offline" not in a.ferry("status").stdout

        # Logging in again with the new pin brings it back at once.
        a.ferry("login", server.url, "--user", "alice", "--password-stdin", "--pin", pin2, input="alice-pw\n")
        wait_until(lambda: a.status()["state"] == "idle", timeout=30, what="the folder to sync again")
    finally:
        a.stop()


def _loose(paths: FerryPaths) -> list[str]:
    """Every directory of Ferry's and every file in it that another user could read or enter."""
    found = []
    for d in paths.private_dirs:
        for p in [d, *(d.rglob("*") if d != paths.data_dir else [])]:
            mode = stat.S_IMODE(p.lstat().st_mode)
            if not p.is_symlink() and mode & 0o077:
                found.append(f"{p} {mode:04o}")
    return found


def test_secrets_and_user_data_are_private_under_umask_022(server: ServerProcess, tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # the daemon and the CLI inherit it, as from a login shell
    a = Device(name="laptop", home=tmp_path / "home", folder=tmp_path / "folder", keyring_dir=tmp_path / "keyring")
    try:
        a.ferry("login", server.url, "--user", "alice", "--password-stdin", "--plaintext-credentials",
                input="alice-pw\n")
        a.start()
        a.add_folder()
        (a.folder / "diary.txt").write_text("dear diary")
        a.wait_synced()
        paths = _paths(a)
        for secret in (paths.config_file, paths.config_dir / "credentials.json", paths.journal_file,
                       Path(f"{paths.journal_file}-wal"), paths.log_file, paths.lock_file):
            assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
        for d in paths.private_dirs:
            assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
        assert _loose(paths) == []
        # the user's own files keep the mode their umask gives
        assert stat.S_IMODE((a.folder / "diary.txt").stat().st_mode) == 0o644

        # An install from before: everything readable by others. The next start narrows it, and says so.
        a.stop()
        for d in paths.private_dirs:
            d.chmod(0o755)
            for f in d.iterdir():
                if f.is_file() and not f.is_symlink():
                    f.chmod(0o644)
        a.start()
        assert _loose(paths) == []
        log = paths.log_file.read_text()
        assert f"narrowed the permissions of {paths.journal_file}: 0644 -> 0600" in log
        assert f"narrowed the permissions of {paths.config_dir}: 0755 -> 0700" in log
    finally:
        os.umask(old_umask)
        a.stop()


def test_forty_connections_held_by_one_process_do_not_lock_ferry_status_out(
        make_device: Callable[..., Device]) -> None:
    a = make_device("laptop")
    held: list[socket.socket] = []
    try:
        for i in range(40):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(str(_paths(a).socket_path))
            held.append(s)
            s.sendall(json.dumps({"v": 1, "id": i, "method": "hello"}).encode() + b"\n")
            assert json.loads(s.makefile("rb").readline())["ok"] is True
        assert a.ferry("status").returncode == 0
        assert a.status()["folders"][0]["local"] == str(a.folder)
    finally:
        for s in held:
            s.close()
