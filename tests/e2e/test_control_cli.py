"""The `ferry` CLI against a real daemon and server: every command a user runs, seen through its output."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from devices import Device, converge, tree
from util import wait_until


def test_status_pause_resume_and_wait(make_device: Callable[..., Device]) -> None:
    a = make_device("laptop")
    b = make_device("desktop")
    status = a.status()
    assert status["state"] in ("idle", "syncing")
    assert status["folders"][0]["local"] == str(a.folder)
    human = a.ferry("status").stdout
    assert str(a.folder) in human

    b.ferry("pause")
    assert b.status()["state"] == "paused"
    assert b.status()["paused"] is True
    (a.folder / "while-paused.txt").write_text("hello")
    a.wait_synced()
    # paused: nothing arrives, and `ferry wait` does not claim to be done
    assert b.ferry("wait", "--timeout", "2", check=False).returncode != 0
    assert not (b.folder / "while-paused.txt").exists()
    b.ferry("resume")
    b.wait_synced(timeout=60)  # returns only once the other device's file is here
    assert (b.folder / "while-paused.txt").read_text() == "hello"


def test_wait_returns_only_when_the_file_arrived(make_device: Callable[..., Device]) -> None:
    a = make_device("laptop")
    b = make_device("desktop")
    for i in range(5):
        (a.folder / f"f{i}.txt").write_text(str(i) * 1000)
        a.wait_synced()
        b.wait_synced()
        assert (b.folder / f"f{i}.txt").read_text() == str(i) * 1000


def test_folders_settings_activity_and_errors(make_device: Callable[..., Device], tmp_path: Path) -> None:
    a = make_device("laptop")
    second = tmp_path / "Photos"
    second.mkdir()
    (second / "cat.jpg").write_bytes(b"\xff\xd8 not really a cat")
    a.ferry("folder", "add", str(second), "--remote", "/Photos")
    folders = a.json("folder", "list")["folders"]
    assert {f["local"] for f in folders} == {str(a.folder), str(second)}
    a.wait_synced()
    activity = a.json("activity")["activity"]
    assert any(e["path"].endswith("cat.jpg") and e["direction"] == "up" for e in activity), activity

    assert "cat.jpg" in a.ferry("activity").stdout
    a.ferry("settings", "set", "upload_limit_kbps", "512")
    assert a.json("settings", "get")["settings"]["upload_limit_kbps"] == 512
    assert "upload_limit_kbps = 512" in (a.home / "config" / "config.toml").read_text()
    bad = a.ferry("settings", "set", "upload_limit_kbps", "lots", check=False)
    assert bad.returncode != 0
    assert "upload_limit_kbps" in (bad.stderr + bad.stdout)
    assert a.json("errors")["errors"] == []

    photos_id = next(f["id"] for f in folders if f["local"] == str(second))
    a.ferry("folder", "remove", photos_id)
    assert [f["local"] for f in a.json("folder", "list")["folders"]] == [str(a.folder)]
    assert (second / "cat.jpg").exists(), "removing a folder from Ferry never deletes the user's files"


def test_mass_deletion_is_held_until_approved(make_device: Callable[..., Device]) -> None:
    a = make_device("laptop")
    b = make_device("desktop")
    a.ferry("settings", "set", "delete_threshold_count", "5")
    for i in range(12):
        (a.folder / f"doc{i}.txt").write_text(f"doc {i}")
    converge(a, b)
    for i in range(10):
        (a.folder / f"doc{i}.txt").unlink()
    wait_until(lambda: len(a.json("deletions", "list")["pending"]) == 10, timeout=30,
               what="the ten deletions to be held")
    assert a.status()["deletions_pending"] == 10
    assert len([p for p in tree(b.folder) if p.startswith("doc")]) == 12, "held deletions must not propagate"

    a.ferry("deletions", "reject")  # keep them: they come back
    wait_until(lambda: len([p for p in tree(a.folder) if p.startswith("doc")]) == 12, timeout=60,
               what="rejected deletions to be undone on the laptop")
    for i in range(10):
        (a.folder / f"doc{i}.txt").unlink()
    wait_until(lambda: len(a.json("deletions", "list")["pending"]) == 10, timeout=30, what="held again")
    a.ferry("deletions", "approve")
    # 10 of the desktop's 12 files: more than half of its folder, so the desktop asks its own user too
    wait_until(lambda: len(b.json("deletions", "list")["pending"]) == 10, timeout=30,
               what="the desktop to hold the deletions it received")
    assert len([p for p in tree(b.folder) if p.startswith("doc")]) == 12
    b.ferry("deletions", "approve")
    converge(a, b)
    assert sorted(p for p in tree(b.folder) if p.startswith("doc")) == ["doc10.txt", "doc11.txt"]


def test_versions_restore_and_conflicts(make_device: Callable[..., Device]) -> None:
    a = make_device("laptop")
    b = make_device("desktop")
    target = a.folder / "essay.txt"
    for text in ("draft 1", "draft 2", "final"):
        target.write_text(text)
        a.wait_synced()
    revs = a.json("versions", str(target))["revisions"]
    assert len(revs) >= 3
    assert {r["device"] for r in revs} == {"laptop"}  # which device made each version
    assert all(abs(r["time"] - time.time()) < 600 for r in revs)  # and when (Unix seconds)
    text = b.ferry("versions", str(b.folder / "essay.txt")).stdout
    assert "DEVICE" in text.splitlines()[0]
    assert "TIME" in text.splitlines()[0]
    assert "laptop" in text
    oldest = revs[-1]["rev"]
    a.ferry("restore", str(target), "--rev", str(oldest))
    wait_until(lambda: target.read_text() == "draft 1", timeout=30, what="the restored version on disk")
    converge(a, b)
    assert (b.folder / "essay.txt").read_text() == "draft 1"

    target.unlink()
    converge(a, b)
    a.ferry("restore", str(target))  # no --rev: the last version before it was deleted
    for d in (a, b):
        restored = d.folder / "essay.txt"
        wait_until(restored.exists, timeout=30, what=f"the restored file on {d.name}")
    assert (b.folder / "essay.txt").read_text() == "draft 1"
    assert a.json("conflicts")["conflicts"] == []


def test_daemon_not_running_and_bad_input(tmp_path: Path, make_device: Callable[..., Device]) -> None:
    a = make_device("laptop")
    a.stop()
    r = a.ferry("status", check=False)
    assert r.returncode == 3
    assert "not running" in (r.stderr + r.stdout)
    a.start()
    r = a.ferry("versions", "/etc/passwd", check=False)
    assert r.returncode == 1
    assert "not inside a synced folder" in (r.stderr + r.stdout)
    r = a.ferry("folder", "add", str(a.folder / "nested"), check=False)
    assert r.returncode != 0
    assert a.status()["state"] in ("idle", "syncing"), "bad requests leave the daemon running"


def test_stop_is_graceful_and_a_second_daemon_is_refused(make_device: Callable[..., Device]) -> None:
    a = make_device("laptop")
    assert a.proc is not None
    second = a.ferry("start", check=False)
    assert second.returncode == 0
    assert "already running" in second.stdout
    a.ferry("stop")
    a.proc.wait(30)
    assert a.proc.returncode == 0
    a.proc = None
    (a.folder / "after-stop.txt").write_text("found at the next start")
    a.start()
    a.wait_synced()
    names = [e["path"] for e in a.json("activity")["activity"]]
    assert any(n.endswith("after-stop.txt") for n in names)


def test_ferry_up_on_an_empty_home_syncs_into_the_local_cloud(tmp_path: Path) -> None:
    d = Device(name="solo", home=tmp_path / "home", folder=tmp_path / "Ferry", keyring_dir=tmp_path / "keyring",
               extra_env={"HOME": str(tmp_path), "DISPLAY": ""})
    try:
        out = d.ferry("up", str(d.folder), timeout=120).stdout
        assert "local cloud" in out
        (d.folder / "hello.txt").write_text("into the local cloud")
        d.wait_synced()
        revs = d.json("versions", str(d.folder / "hello.txt"))["revisions"]
        assert revs
        assert revs[0]["size"] == len("into the local cloud")
        config = (d.home / "config" / "config.toml").read_text()
        assert "embedded = true" in config
        assert "127.0.0.1" in config
        again = d.ferry("up", str(d.folder), timeout=120).stdout
        assert "already running" in again.lower()
        assert (d.home / "config" / "config.toml").read_text().count("[[folders]]") == 1
    finally:
        d.ferry("stop", check=False)
    wait_until(lambda: not _server_running(d), timeout=30, what="the local cloud to stop with the daemon")


def _server_running(d: Device) -> bool:
    cfg = (d.home / "config" / "config.toml").read_text()
    url = next(line.split('"')[1] for line in cfg.splitlines() if line.startswith("server_url"))
    import requests

    try:
        return requests.get(f"{url}/v1/health", timeout=1).ok
    except requests.ConnectionError:
        return False


def test_the_account_line_counts_what_was_just_synced_or_says_it_is_updating(
        make_device: Callable[..., Device]) -> None:
    a = make_device("laptop")
    a.wait_synced()
    for i in range(3):
        (a.folder / f"counted-{i}.txt").write_text("x" * 100)
    a.wait_synced()
    # right after `ferry wait`: the line either counts the three files or says it is being read again, never
    # a bare count from before the sync beside "Up to date"
    line = _account_line(a)
    assert "in 3 files" in line or line.endswith("(updating)"), line
    wait_until(lambda: _account_line(a).split(" on ")[0] == "Account:    300 B in 3 files", timeout=10,
               what="the account line to count the synced files")
    assert not _account_line(a).endswith("(updating)")


def _account_line(d: Device) -> str:
    return next(li for li in d.ferry("status").stdout.splitlines() if li.startswith("Account:"))


def test_status_json_is_machine_readable(make_device: Callable[..., Device]) -> None:
    a = make_device("laptop")
    data = json.loads(a.ferry("status", "--json").stdout)
    for key in ("state", "message", "pending_up", "pending_down", "transfers", "conflicts", "errors",
                "name_issues", "deletions_pending", "folders", "last_sync", "account", "paused"):
        assert key in data
    assert os.environ.get("FERRY_HOME") != str(a.home)


def test_garbage_on_the_real_daemons_socket_does_not_hurt_it(make_device: Callable[..., Device]) -> None:
    import socket

    a = make_device("laptop")
    a.wait_synced()  # connected first ("Connecting…" shows as offline until then, truthfully)
    sock_path = next((a.home / "run").glob("*.sock"))
    payloads = [b"\x00\xff\xfe garbage\n", b"{not json}\n", b'{"v": 1, "id": 1, "method": "status", "params": 3}\n',
                b'{"v": 99, "id": 2, "method": "status"}\n', b"[" * 100_000 + b"\n", b"x" * (2 * 1024 * 1024)]
    for payload in payloads:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(str(sock_path))
            try:
                s.sendall(payload)
                answer = s.recv(4096)
            except OSError:  # the daemon may hang up on an oversized line: that is its right
                answer = b""
            if answer:
                assert b'"ok": false' in answer or b'"ok":false' in answer
    assert a.status()["state"] in ("idle", "syncing")
    (a.folder / "still-syncing.txt").write_text("yes")
    a.wait_synced()
