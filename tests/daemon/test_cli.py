"""`ferry` against a real ControlServer with fake handlers: output (text and --json), exit codes, messages."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ipc_fakedaemon import FakeDaemon
from util import bin_path, wait_until

from ferrysync.daemon.cli import main
from ferrysync.daemon.lock import is_locked


@pytest.fixture
def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDaemon]:
    monkeypatch.setenv("FERRY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FERRY_IPC_TRANSPORT", raising=False)
    d = FakeDaemon(tmp_path / "home", hold_lock=True).start()
    try:
        yield d
    finally:
        d.stop()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_status_text_shows_what_a_user_needs(daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    daemon.set_status(
        state="syncing",
        message="Syncing 3 files — 1.2 MB/s",
        conflicts=2,
        deletions_pending=1,
        pending_up={"count": 3, "bytes": 3_400_000},
        speed_up=1_200_000.0,
        transfers=[
            {
                "path": "big.iso",
                "direction": "up",
                "bytes_done": 500,
                "bytes_total": 1000,
                "speed": 1_200_000.0,
            }
        ],
    )
    code, out, _ = run(capsys, "status")
    assert code == 0
    for expected in (
        "Syncing 3 files — 1.2 MB/s  [syncing]",
        "2 conflicts",
        "1 deletion waiting for approval",
        "up 3 files (3.4 MB)",
        " 50%",
        "big.iso",
        "1.2 MB/s",
        "/home/u/Docs",
        "Last sync:  never",
        "1.5 MB in 12 files",
    ):
        assert expected in out, (expected, out)


def test_status_json_is_the_daemons_object(daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_json(capsys, "status") == daemon.current_status()


def test_daemon_not_running_exits_3_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FERRY_HOME", str(tmp_path / "empty"))
    for argv in (
        ["status"],
        ["status", "--json"],
        ["pause"],
        ["wait"],
        ["settings", "get"],
        ["status", "-w"],
    ):
        code, out, err = run(capsys, *argv)
        assert code == 3, argv
        assert "not running" in err
        assert out == ""
    code, _, err = run(capsys, "stop")
    assert code == 0  # stopping what is not running is not an error


def test_pause_resume_and_stop(daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "pause")[:2] == (0, "Paused. Run `ferry resume` to continue.\n")
    assert daemon.current_status()["paused"] is True
    assert run(capsys, "resume")[:2] == (0, "Resumed.\n")
    assert run(capsys, "stop")[:2] == (0, "The Ferry daemon has stopped.\n")
    assert not is_locked(daemon.paths.lock_file)  # returned only once the daemon let go of its lock
    assert not daemon.paths.socket_path.exists()
    assert daemon.methods_called() == ["pause", "resume", "stop"]


def test_folder_commands(
    daemon: FakeDaemon, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "Photos").mkdir()
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "folder", "add", "Photos")
    assert code == 0
    assert f"Syncing {tmp_path / 'Photos'} with /Photos (folder id f2)" in out
    assert daemon.calls[-1] == (
        "folder_add",
        {"local": str(tmp_path / "Photos")},
    )  # absolute: the daemon's cwd differs
    run(capsys, "folder", "add", "Photos", "--remote", "/Pics")
    assert daemon.calls[-1][1]["remote"] == "/Pics"
    code, _, err = run(capsys, "folder", "add", "missing")
    assert code == 2
    assert "is not a folder" in err
    assert [f["id"] for f in run_json(capsys, "folder", "list")["folders"]] == ["f1", "f2", "f3"]
    assert run(capsys, "folder", "remove", "f2")[0] == 0
    code, out, _ = run(capsys, "folder", "list")
    assert "f2" not in out
    assert "/home/u/Docs" in out
    code, _, err = run(capsys, "folder", "remove", "f404")
    assert code == 1
    assert "no folder with id f404" in err


def test_reports_in_text_and_json(daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "conflicts")
    assert code == 0
    assert "conflicted copy from pc" in out
    assert "2 minutes ago" in out
    assert run_json(capsys, "conflicts")["conflicts"][0]["original"] == "a.txt"
    code, out, _ = run(capsys, "activity", "-n", "3")
    assert code == 0
    assert len(out.splitlines()) == 4
    assert "file2.txt" in out
    assert "2.0 kB" in out
    assert len(run_json(capsys, "activity", "--limit", "7")["activity"]) == 7
    assert run(capsys, "activity", "--limit", "0")[0] == 2
    code, out, _ = run(capsys, "errors")
    assert "Permission denied" in out
    assert "CON.txt" in out
    assert "reserved name" in out
    assert set(run_json(capsys, "errors")) == {"errors", "name_issues"}


def test_deletions(daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "deletions", "list")
    assert code == 0
    assert "old/x.txt" in out
    assert "remote" in out
    assert run_json(capsys, "deletions", "list")["pending"][0]["side"] == "remote"
    assert run(capsys, "deletions", "approve")[0] == 0
    assert run(capsys, "deletions", "reject", "--folder", "f1")[0] == 0
    assert daemon.calls[-2:] == [("deletions_approve", {}), ("deletions_reject", {"folder_id": "f1"})]


def test_versions_restore_and_trash(
    daemon: FakeDaemon, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "versions", "report.txt")
    assert code == 0
    assert "laptop" in out
    assert "2.0 kB" in out
    assert daemon.calls[-1] == ("versions", {"path": str(tmp_path / "report.txt")})
    assert [r["rev"] for r in run_json(capsys, "versions", "report.txt")["revisions"]] == [7, 5]
    code, _, err = run(capsys, "versions", "other.txt")
    assert code == 1
    assert "not in a synced folder" in err
    assert run(capsys, "restore", "report.txt", "--rev", "5")[0] == 0
    assert daemon.calls[-1] == ("restore", {"path": str(tmp_path / "report.txt"), "rev": 5})
    code, out, _ = run(capsys, "trash")
    assert code == 0
    assert "gone.txt" in out
    assert run_json(capsys, "trash", "list")["entries"][0]["where"] == "server"
    assert run(capsys, "trash", "restore", "gone.txt")[0] == 0
    assert daemon.calls[-1] == ("trash_restore", {"path": str(tmp_path / "gone.txt")})


def test_settings_are_parsed_by_key(daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "settings", "get")
    assert code == 0
    assert "notifications = true" in out
    assert "upload_limit_kbps = 0" in out
    assert run_json(capsys, "settings", "get")["settings"] == daemon.settings
    assert run(capsys, "settings", "get", "conflict_host_name")[1] == "laptop\n"
    assert run_json(capsys, "settings", "get", "delete_threshold_ratio") == {
        "settings": {"delete_threshold_ratio": 0.5}
    }
    assert run(capsys, "settings", "set", "upload_limit_kbps", "250")[:2] == (0, "upload_limit_kbps = 250\n")
    assert run(capsys, "settings", "set", "notifications", "off")[1] == "notifications = false\n"
    assert daemon.settings["upload_limit_kbps"] == 250
    assert daemon.settings["notifications"] is False
    calls = len(daemon.calls)
    for bad in (
        ["upload_limit_kbps", "fast"],
        ["notifications", "maybe"],
        ["colour", "red"],
        ["delete_threshold_ratio", "3"],
    ):
        code, _, err = run(capsys, "settings", "set", *bad)
        assert code == 2
        assert bad[0] in err
    assert run(capsys, "settings", "get", "colour")[0] == 2
    assert len(daemon.calls) == calls  # bad input never reaches the daemon


def test_wait_ends_when_synced(daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "wait")[:2] == (0, "Everything is synced.\n")
    daemon.wait.update(synced=False)

    def finish() -> None:
        daemon.wait.update(synced=True)
        daemon.set_status(message="Up to date")  # the status event is what wakes `ferry wait`

    threading.Timer(0.3, finish).start()
    assert run(capsys, "wait", "--timeout", "20")[0] == 0


def test_wait_times_out_with_4(daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    daemon.wait.update(caught_up=False)
    code, _, err = run(capsys, "wait", "--timeout", "0.5")
    assert code == 4
    assert "not synced after 0.5 s" in err


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"paused": True, "state": "paused"}, "paused"),
        ({"deletions_pending": 4}, "deletions are waiting"),
        ({"state": "error", "message": "Sync root missing"}, "root missing"),
    ],
)
def test_wait_needing_the_user_exits_5(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str], change: dict[str, Any], words: str
) -> None:
    daemon.wait.update(synced=False)
    daemon.set_status(**change)
    code, _, err = run(capsys, "wait", "--timeout", "20")
    assert code == 5
    assert words in err


def test_status_watch_follows_changes_until_the_daemon_stops(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    result: list[int] = []
    watcher = threading.Thread(target=lambda: result.append(main(["status", "--watch", "--json"])))
    watcher.start()
    lines: list[str] = []

    def seen(n: int) -> bool:
        lines.extend(capsys.readouterr().out.splitlines())
        return len(lines) >= n

    wait_until(lambda: seen(1), what="the first status")
    daemon.set_status(message="Syncing 1 file")
    wait_until(lambda: seen(2), what="the changed status")
    assert json.loads(lines[-1])["message"] == "Syncing 1 file"
    daemon.stop()
    watcher.join(10)
    assert result == [3]


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "frobnicate")[0] == 2
    assert run(capsys)[0] == 2
    assert run(capsys, "folder")[0] == 2
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.startswith("ferry 0.1.0")


def test_session_commands_dispatch_to_the_engine(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, Any] = {}
    session = types.ModuleType("ferrysync.daemon.cli.session")
    for name in ("login", "logout", "up", "start"):
        setattr(session, name, lambda args, name=name: seen.setdefault(name, args) and None)
    autostart = types.ModuleType("ferrysync.daemon.autostart")
    autostart.cli = lambda args: seen.setdefault("autostart", args) and 7  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ferrysync.daemon.cli.session", session)
    monkeypatch.setitem(sys.modules, "ferrysync.daemon.autostart", autostart)
    assert main(["login", "https://ferry.example.org", "-u", "alice", "--password-stdin"]) == 0
    assert (seen["login"].server, seen["login"].user, seen["login"].password_stdin) == (
        "https://ferry.example.org",
        "alice",
        True,
    )
    assert main(["logout"]) == 0
    assert main(["up", "Docs"]) == 0
    assert main(["start", "-f"]) == 0
    assert seen["start"].foreground is True
    assert seen["up"].folder == "Docs"
    assert main(["autostart", "enable", "--tray"]) == 7
    a = seen["autostart"]
    assert (a.action, a.target, a.json) == ("enable", "tray", False)


def test_up_refuses_a_folder_that_overlaps_a_synced_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a running daemon, `ferry up` writes the config itself: it must not write one the next load refuses."""
    from ferrysync.daemon.cli import session
    from ferrysync.daemon.config import Config, load_config, save_config
    from ferrysync.daemon.paths import ferry_paths

    monkeypatch.setenv("FERRY_HOME", str(tmp_path / "home"))
    paths = ferry_paths().ensure()
    cfg, _ = Config(server_url="https://ferry.example.org", user="alice").with_new_folder(tmp_path / "Sync")
    save_config(paths, cfg)
    monkeypatch.setattr(session, "_daemon_answers", lambda paths: False)
    monkeypatch.setattr(session, "start", lambda args: pytest.fail("started the daemon"))
    for clash in (tmp_path / "Sync" / "inner", tmp_path):
        code, _, err = run(capsys, "up", str(clash))
        assert code == 2
        assert "overlaps" in err
        assert load_config(paths).folders == cfg.folders
    assert not (tmp_path / "Sync" / "inner").exists()


def test_missing_engine_module_is_reported(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "ferrysync.daemon.cli.session", None)  # import fails as if absent
    code = main(["logout"])
    assert code == 1


LAZY_CHECK = """
import sys
from ferrysync.daemon.cli import main
from ferrysync.daemon.lock import is_locked
codes = [main(["--version"]), main(["status"]), main(["status", "--json"])]
heavy = [m for m in ("requests", "watchdog", "sqlite3", "desktop_notifier", "keyring", "urllib3",
                     "ferrysync.daemon.ipc.server", "ferrysync.daemon.cli.session") if m in sys.modules]
print(codes, heavy, file=sys.stderr)
"""


def test_version_and_status_import_nothing_heavy(tmp_path: Path) -> None:
    env = {"FERRY_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", LAZY_CHECK], capture_output=True, text=True, env=env, timeout=60)
    assert proc.stderr.strip().splitlines()[-1] == "[0, 3, 3] []", proc.stderr


def test_the_installed_console_script(tmp_path: Path) -> None:
    env = {"FERRY_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([bin_path("ferry"), "--version"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.strip() == "ferry 0.1.0"
    proc = subprocess.run([bin_path("ferry"), "status"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 3
    assert "not running" in proc.stderr


def test_human_units_and_the_wait_progress_bar() -> None:
    from ferrysync.daemon.cli.render import human_bytes, human_time, progress_line

    assert [human_bytes(n) for n in (0, 999, 1000, 3_400_000, 2.5e12)] == ["0 B", "999 B", "1.0 kB", "3.4 MB", "2.5 TB"]
    assert human_time(None) == "never"
    assert human_time(1000.0, now=1030.0).startswith("just now")
    assert human_time(1000.0, now=1000.0 + 7200).startswith("2 hours ago")
    line = progress_line({"pending_up": {"count": 5, "bytes": 5000}, "message": "Syncing"}, baseline=20, width=20)
    assert line.startswith("[###############-----] 5 files (5.0 kB) left")


def test_the_account_line_says_updating_when_it_was_counted_before_the_last_sync() -> None:
    from ferrysync.daemon.cli.render import status_lines

    base = {"state": "idle", "message": "Up to date", "folders": [], "server": "http://s", "last_sync": 1000.0}
    fresh = status_lines({**base, "account": {"bytes": 300, "files": 3, "read_at": 1000.5}}, now=1001.0)
    assert "Account:    300 B in 3 files on http://s" in fresh
    stale = status_lines({**base, "account": {"bytes": 0, "files": 0, "read_at": 999.0}}, now=1001.0)
    assert "Account:    0 B in 0 files on http://s (updating)" in stale


def test_the_account_is_read_again_at_once_when_a_sync_leaves_every_folder_idle() -> None:
    from ferrysync.daemon.engine.engine import _account_due

    assert _account_due(60.0, synced_since=False, settled=False)  # at rest, now and then
    assert not _account_due(30.0, synced_since=False, settled=True)  # nothing synced since: no need
    assert not _account_due(3.0, synced_since=True, settled=False)  # mid-sync: at most every 5 s
    assert _account_due(5.0, synced_since=True, settled=False)
    assert _account_due(1.0, synced_since=True, settled=True)  # the sync ended: read it now
    assert not _account_due(0.5, synced_since=True, settled=True)  # but not in a loop


def test_wait_draws_a_progress_bar_on_a_terminal(daemon: FakeDaemon, tmp_path: Path) -> None:
    daemon.wait.update(synced=False)
    daemon.set_status(state="syncing", message="Syncing 3 files", pending_up={"count": 3, "bytes": 3_000_000})
    leader, follower = os.openpty()
    env = {"FERRY_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [bin_path("ferry"), "wait", "--timeout", "1"], stderr=follower, stdout=subprocess.PIPE, env=env
    )
    os.close(follower)
    seen = b""
    try:
        while proc.poll() is None or select.select([leader], [], [], 0)[0]:
            if select.select([leader], [], [], 0.2)[0]:
                try:
                    seen += os.read(leader, 4096)
                except OSError:  # the terminal closed with the process
                    break
    finally:
        proc.wait(30)
        os.close(leader)
    assert proc.returncode == 4
    assert b"3 files (3.0 MB) left  Syncing 3 files" in seen
    assert b"[---" in seen


def test_open_hands_the_address_to_a_browser_or_prints_it(daemon: FakeDaemon, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import webbrowser

    url = "http://127.0.0.1:9/prefix/login?ticket=once"
    assert run(capsys, "open", "--print")[:2] == (0, url + "\n")
    opened: list[str] = []

    def browser(u: str) -> bool:
        opened.append(u)
        return True

    monkeypatch.setattr(webbrowser, "open", browser)
    code, out, _ = run(capsys, "open")
    assert (code, opened) == (0, [url])
    assert "Opened" in out
    monkeypatch.setattr(webbrowser, "open", lambda u: False)  # no browser here: the address is printed instead
    code, out, err = run(capsys, "open")
    assert (code, out) == (0, url + "\n")
    assert "no web browser" in err
