"""The controller against a daemon speaking the real protocol over the real socket, through the real IPC
client — only the UI and the desktop are stand-ins (recorders), so these run without a display."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fake_daemon import FakeDaemon
from util import wait_until

from ferrysync.daemon.ipc.client import ControlClient, IpcError
from ferrysync.daemon.paths import FerryPaths, ferry_paths
from ferrysync.tray.controller import Backoff, Controller
from ferrysync.tray.view import Command, Item, View


class Recorder:
    """The Presenter: keeps every view it is shown."""

    def __init__(self) -> None:
        self.views: list[View] = []
        self.quit_called = threading.Event()
        self.lock = threading.Lock()

    def show(self, view: View) -> None:
        with self.lock:
            self.views.append(view)

    def quit(self) -> None:
        self.quit_called.set()

    @property
    def last(self) -> View:
        with self.lock:
            return self.views[-1]


class FakeDesktop:
    def __init__(self) -> None:
        self.opened: list[str] = []
        self.urls: list[str] = []
        self.spawned: list[list[str]] = []
        self.pick: str | None = None
        self.on_spawn: Callable[[], None] = lambda: None

    def open_path(self, path: str) -> None:
        if not Path(path).exists():
            raise FileNotFoundError(2, "no such file or folder", path)
        self.opened.append(path)

    def pick_folder(self) -> str | None:
        return self.pick

    def open_url(self, url: str) -> None:
        self.urls.append(url)

    def spawn(self, argv: Sequence[str]) -> None:
        self.spawned.append(list(argv))
        self.on_spawn()


class Rig:
    def __init__(self, home: Path) -> None:
        self.paths: FerryPaths = ferry_paths({"FERRY_HOME": str(home)}).ensure()
        self.daemon: FakeDaemon | None = None
        self.ui = Recorder()
        self.desktop = FakeDesktop()
        self.client = ControlClient(self.paths, timeout=5)
        self.controller = Controller(self.client, self.ui, self.desktop, daemon_command=["ferryd", "--x"],
                                     log_file=self.paths.log_file, backoff=Backoff(0.05, 0.2))

    def start_daemon(self) -> FakeDaemon:
        self.daemon = FakeDaemon(self.paths.socket_path, self.paths.log_file)
        self.daemon.start_in_thread()
        return self.daemon

    def stop_daemon(self) -> None:
        if self.daemon is not None:
            self.daemon.shutdown()
            self.daemon = None

    def calls(self, method: str) -> list[dict[str, Any]]:
        assert self.daemon is not None
        with self.daemon.lock:
            return [c["params"] for c in self.daemon.calls if c["method"] == method]

    def until(self, pred: Callable[[View], bool], what: str, timeout: float = 10) -> View:
        return wait_until(lambda: self.ui.last if pred(self.ui.last) else None, timeout=timeout, what=what)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path / "home")
    try:
        yield r
    finally:
        r.controller.stop()
        r.stop_daemon()
        r.client.close()


def running(rig: Rig) -> FakeDaemon:
    daemon = rig.start_daemon()
    rig.controller.start()
    rig.until(lambda v: v.icon == "idle", "the tray to show up to date")
    return daemon


def test_shows_daemon_status_as_soon_as_it_changes(rig: Rig) -> None:
    daemon = running(rig)
    assert rig.ui.last.status_line == "Up to date"
    daemon.change(state="syncing", pending_up={"count": 12, "bytes": 1}, speed_up=3_400_000.0)
    rig.until(lambda v: v.status_line == "Syncing 12 files — 3.4 MB/s", "the syncing line")
    assert rig.ui.last.icon == "syncing"
    daemon.change(state="idle", conflicts=1)
    rig.until(lambda v: v.icon == "attention", "needs attention")


def test_pause_and_resume_reach_the_daemon(rig: Rig) -> None:
    daemon = running(rig)
    view = rig.ui.last
    assert view.default == Command("pause")
    rig.controller.dispatch(view.default)
    rig.until(lambda v: v.icon == "paused", "paused")
    assert daemon.snapshot()["paused"] is True
    rig.controller.dispatch(rig.ui.last.default or Command("resume"))
    rig.until(lambda v: v.icon == "idle", "resumed")
    assert daemon.snapshot()["paused"] is False


def test_preferences_opens_the_address_the_daemon_mints(rig: Rig) -> None:
    running(rig)
    rig.controller.dispatch(Command("preferences"))
    wait_until(lambda: rig.desktop.urls, what="the settings window to be opened")
    assert rig.calls("ui_url") == [{}]
    assert rig.desktop.urls == ["http://127.0.0.1:1/fake/login?ticket=fake-ticket-1"]


def test_pausing_one_folder_names_it_to_the_daemon(rig: Rig) -> None:
    running(rig)
    rig.controller.dispatch(Command("pause", ("f2",)))
    wait_until(lambda: rig.calls("pause") == [{"folder": "f2"}], what="the folder's pause to reach the daemon")
    rig.controller.dispatch(Command("resume", ("f2",)))
    wait_until(lambda: rig.calls("resume") == [{"folder": "f2"}], what="the folder's resume to reach the daemon")


def test_dispatch_never_blocks_the_ui_thread(rig: Rig) -> None:
    running(rig)
    picked = threading.Event()
    release = threading.Event()

    def slow_pick() -> str | None:
        picked.set()
        release.wait(10)
        return None

    rig.desktop.pick_folder = slow_pick  # type: ignore[method-assign]
    t0 = time.monotonic()
    rig.controller.dispatch(Command("add_folder"))
    rig.controller.dispatch(Command("pause"))
    assert time.monotonic() - t0 < 0.1
    wait_until(picked.is_set, what="the picker to open")
    rig.until(lambda v: v.icon == "paused", "pause to go through while the picker is open")
    release.set()


def test_details_are_fetched_for_the_menu(rig: Rig) -> None:
    daemon = running(rig)
    docs = rig.paths.data_dir / "Docs"
    docs.mkdir()
    (docs / "a.txt").write_text("x")
    daemon.m__test_set({
        "status": {"folders": [{"id": "f1", "local": str(docs), "remote": "/Docs", "state": "idle", "message": ""}],
                   "conflicts": 1, "deletions_pending": 2},
        "activity": [{"time": time.time(), "folder_id": "f1", "path": "a.txt", "direction": "up",
                      "action": "upload", "size": 1}],
        "conflicts": [{"folder_id": "f1", "path": "a (conflicted copy).txt", "original": "a.txt", "time": 1.0}],
        "deletions": [{"folder_id": "f1", "path": "x.txt", "side": "remote"},
                      {"folder_id": "f1", "path": "y.txt", "side": "remote"}],
    })
    rig.until(lambda v: len(rig.controller.snapshot.deletions) == 2 and bool(rig.controller.snapshot.activity),
              "details to arrive")
    snap = rig.controller.snapshot
    assert snap.conflicts[0]["path"] == "a (conflicted copy).txt"
    assert snap.settings is not None
    assert snap.settings["notifications"] is True
    rig.controller.dispatch(Command("open_path", (str(docs / "a.txt"),)))
    wait_until(lambda: rig.desktop.opened == [str(docs / "a.txt")], what="the file to be opened")
    rig.controller.dispatch(Command("deletions_approve", ()))
    view = rig.until(lambda v: not any(getattr(n, "label", "").startswith("Deletions") for n in v.menu)
                     and not rig.controller.snapshot.deletions
                     and (rig.controller.snapshot.status or {}).get("deletions_pending") == 0, "deletions settled")
    assert rig.calls("deletions_approve") == [{}]
    assert view.icon == "attention"  # the conflict still waits
    assert view.menu[1] == Item("1 conflict")


def test_settings_and_folders_round_trip(rig: Rig) -> None:
    running(rig)
    rig.controller.dispatch(Command("settings_set", ("start_at_login", True)))
    wait_until(lambda: (rig.controller.snapshot.settings or {}).get("start_at_login") is True,
               what="start at login on")
    rig.controller.dispatch(Command("settings_set", ("upload_limit_kbps", 500)))
    wait_until(lambda: (rig.controller.snapshot.settings or {}).get("upload_limit_kbps") == 500,
               what="the upload limit")
    assert rig.calls("settings_set") == [{"key": "start_at_login", "value": True},
                                         {"key": "upload_limit_kbps", "value": 500}]
    folder = rig.paths.data_dir / "Music"
    folder.mkdir()
    rig.desktop.pick = str(folder)
    rig.controller.dispatch(Command("add_folder"))
    rig.until(lambda v: any(getattr(n, "label", "") == "Open “Music”" for n in v.menu), "the new folder")
    assert rig.calls("folder_add") == [{"local": str(folder)}]
    rig.controller.dispatch(Command("remove_folder", ("f1",)))
    rig.until(lambda v: not any(getattr(n, "label", "") == "Open “Music”" for n in v.menu), "folder removed")


def test_cancelled_picker_adds_nothing(rig: Rig) -> None:
    running(rig)
    rig.desktop.pick = None
    rig.controller.dispatch(Command("add_folder"))
    rig.controller.stop(wait=True)  # every queued command has finished
    assert rig.calls("folder_add") == []


def test_daemon_refusals_are_shown_and_lose_nothing(rig: Rig) -> None:
    running(rig)
    rig.desktop.pick = "/definitely/not/a/folder"
    rig.controller.dispatch(Command("add_folder"))
    view = rig.until(lambda v: getattr(v.menu[1], "label", "").startswith("Could not add the folder"),
                     "the refusal")
    assert "is not a folder" in getattr(view.menu[1], "label", "")
    rig.controller.dispatch(Command("open_path", ("/no/such/file.txt",)))
    rig.until(lambda v: getattr(v.menu[1], "label", "").startswith("Could not open it"), "the open failure")
    rig.controller.dispatch(Command("pause"))  # a success clears the notice
    rig.until(lambda v: v.icon == "paused" and not getattr(v.menu[1], "label", "").startswith("Could not"),
              "the notice to clear")


def test_open_log_without_a_log_says_so(rig: Rig) -> None:
    running(rig)
    rig.paths.log_file.unlink()
    rig.controller.dispatch(Command("open_log"))
    rig.until(lambda v: "no log yet" in getattr(v.menu[1], "label", ""), "the missing log")
    rig.paths.log_file.write_text("hello\n")
    rig.controller.dispatch(Command("open_log"))
    wait_until(lambda: rig.desktop.opened == [str(rig.paths.log_file)], what="the log to open")


def test_daemon_going_away_and_coming_back(rig: Rig) -> None:
    running(rig)
    rig.stop_daemon()
    view = rig.until(lambda v: v.icon == "offline", "the tray to notice")
    assert view.status_line == "Ferry is not running"
    assert view.default == Command("start_daemon")
    rig.start_daemon()  # started by someone else (systemd, the CLI): the tray finds it by itself
    rig.until(lambda v: v.icon == "idle", "the tray to reconnect")


def test_start_ferry_runs_the_daemon_command(rig: Rig) -> None:
    rig.desktop.on_spawn = lambda: threading.Timer(0.3, rig.start_daemon).start()
    rig.controller.start()
    view = rig.until(lambda v: v.status_line == "Ferry is not running", "not running")
    assert view.default is not None
    rig.controller.dispatch(view.default)
    rig.until(lambda v: v.status_line == "Starting Ferry…", "starting")
    rig.until(lambda v: v.icon == "idle", "the started daemon")
    assert rig.desktop.spawned == [["ferryd", "--x"]]


def test_start_failure_is_reported(rig: Rig) -> None:
    def broken() -> None:
        raise FileNotFoundError(2, "No such file or directory", "ferryd")

    rig.desktop.on_spawn = broken
    rig.controller.start()
    rig.controller.dispatch(Command("start_daemon"))
    view = rig.until(lambda v: getattr(v.menu[1], "label", "").startswith("Could not start Ferry"), "the failure")
    assert view.status_line == "Ferry is not running"
    assert view.default == Command("start_daemon")  # can be tried again


def test_offline_countdown_ticks_without_events(rig: Rig) -> None:
    daemon = running(rig)
    daemon.change(state="offline", message="Offline", retry_in=3.0)
    rig.until(lambda v: v.status_line == "Offline — retrying in 3 s", "the countdown")
    rig.until(lambda v: v.status_line == "Offline — retrying in 1 s", "the countdown to move on", timeout=5)


def test_quit_ferry_stops_the_daemon_and_the_tray(rig: Rig) -> None:
    daemon = running(rig)
    rig.controller.dispatch(Command("quit_ferry"))
    wait_until(daemon.stopped.is_set, what="the daemon to stop")
    wait_until(rig.ui.quit_called.is_set, what="the tray to quit")


def test_quit_tray_leaves_the_daemon_running(rig: Rig) -> None:
    daemon = running(rig)
    rig.controller.dispatch(Command("quit_tray"))
    assert rig.ui.quit_called.is_set()
    assert not daemon.stopped.is_set()
    assert rig.calls("stop") == []


def test_backoff_grows_and_resets() -> None:
    b = Backoff(0.5, 4)
    assert [b.next() for _ in range(6)] == [0.5, 1, 2, 4, 4, 4]
    b.reset()
    assert b.next() == 0.5


def test_details_survive_a_daemon_without_some_methods(rig: Rig) -> None:
    daemon = rig.start_daemon()

    def unknown(params: dict[str, Any]) -> dict[str, Any]:
        from fake_daemon import Failure

        raise Failure("unknown_method", "unknown method 'activity'")

    daemon.m_activity = unknown  # type: ignore[method-assign,assignment]
    rig.controller.start()
    wait_until(lambda: rig.controller.snapshot.settings is not None, what="settings despite no activity")
    assert rig.controller.snapshot.activity == ()
    assert isinstance(rig.ui.last.menu[0], Item)
    assert rig.ui.last.icon == "idle"


def test_a_refusing_socket_is_reported(rig: Rig) -> None:
    class Refusing:
        def call(self, method: str, **params: Any) -> dict[str, Any]:
            raise IpcError("unauthorized", "permission denied: the daemon belongs to another user")

        def subscribe(self, events: Sequence[str] | None = None) -> Any:
            return self.call("subscribe")

    controller = Controller(Refusing(), rig.ui, rig.desktop, daemon_command=["x"], log_file=rig.paths.log_file,
                            backoff=Backoff(0.05, 0.1))
    controller.start()
    try:
        view = rig.until(lambda v: "another user" in getattr(v.menu[1], "label", ""), "the refusal")
        assert view.icon == "offline"
    finally:
        controller.stop()
