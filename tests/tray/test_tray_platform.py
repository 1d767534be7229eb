"""Desktop integration without a display: pickers, openers, detached starts, backend choice, the pystray menu
built from the view model (pystray's dummy backend), and the command line."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from util import bin_path, wait_until

from ferrysync.tray import backend_fixes, desktop, ui
from ferrysync.tray.app import default_daemon_command, parse_args
from ferrysync.tray.view import Command, Item, Snapshot, Submenu, View, build_view


def which_only(*present: str) -> Any:
    return lambda name: f"/usr/bin/{name}" if name in present else None


@pytest.mark.parametrize(("present", "desktop_name", "tool"), [
    (("zenity", "kdialog"), "GNOME", "zenity"),
    (("zenity", "kdialog"), "KDE", "kdialog"),
    (("kdialog",), "XFCE", "kdialog"),
    (("zenity",), "KDE", "zenity"),
])
def test_linux_picker_prefers_the_desktops_own_dialog(monkeypatch: pytest.MonkeyPatch, present: tuple[str, ...],
                                                      desktop_name: str, tool: str) -> None:
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", desktop_name)
    argv = desktop.picker_command("linux", which_only(*present))
    assert argv[0] == f"/usr/bin/{tool}"
    assert ("--directory" in argv) if tool == "zenity" else ("--getexistingdirectory" in argv)


def test_linux_picker_falls_back_to_tkinter() -> None:
    argv = desktop.picker_command("linux", which_only())
    assert argv[:2] == [sys.executable, "-c"]
    assert "askdirectory" in argv[2]


def test_macos_and_windows_pickers() -> None:
    mac = desktop.picker_command("darwin", which_only())
    assert mac[0] == "osascript"
    assert "choose folder" in mac[-1]
    win = desktop.picker_command("win32", which_only())
    assert win[0] == "powershell"
    assert "FolderBrowserDialog" in win[-1]


def fake_picker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    tool = tmp_path / "bin" / "zenity"
    tool.parent.mkdir()
    tool.write_text(f"#!/bin/sh\n{script}\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "GNOME")
    monkeypatch.setattr(sys, "platform", "linux")


def test_pick_folder_returns_the_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_picker(tmp_path, monkeypatch, f"echo '{tmp_path}/My Docs/'")
    assert desktop.pick_folder() == f"{tmp_path}/My Docs"


def test_pick_folder_cancelled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_picker(tmp_path, monkeypatch, "exit 1")
    assert desktop.pick_folder() is None


def test_open_path_refuses_what_is_not_there(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        desktop.open_path(str(tmp_path / "nope.txt"))


def test_open_path_uses_xdg_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = tmp_path / "opened"
    tool = tmp_path / "bin" / "xdg-open"
    tool.parent.mkdir()
    tool.write_text(f"#!/bin/sh\necho \"$1\" > '{opened}'\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tool.parent))
    monkeypatch.setattr(sys, "platform", "linux")
    target = tmp_path / "report.pdf"
    target.write_text("x")
    desktop.open_path(str(target))
    wait_until(lambda: opened.exists() and opened.read_text().strip() == str(target), what="xdg-open to run")


def test_spawn_detaches(tmp_path: Path) -> None:
    marker = tmp_path / "sid"
    code = f"import os; open({str(marker)!r}, 'w').write(str(os.getsid(0) == os.getpid()))"
    desktop.spawn([sys.executable, "-c", code])
    wait_until(lambda: marker.exists() and marker.read_text() == "True", what="the child in its own session")


def test_spawn_reports_a_missing_program() -> None:
    with pytest.raises(FileNotFoundError):
        desktop.spawn(["/nonexistent/ferryd"])
    with pytest.raises(OSError, match="no command"):
        desktop.spawn([])


def test_panel_colour_guess(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "ubuntu:GNOME")
    assert desktop.prefers_dark_panel("linux") is True  # GNOME's top bar is dark in every theme
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "XFCE")
    monkeypatch.setenv("GTK_THEME", "Adwaita:dark")
    assert desktop.prefers_dark_panel("linux") is True
    monkeypatch.setenv("GTK_THEME", "Adwaita")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert desktop.prefers_dark_panel("linux") is False


# --- backend choice ---


def test_requested_backend_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYSTRAY_BACKEND", raising=False)
    assert ui.choose_backend("xorg") == "xorg"
    monkeypatch.setenv("PYSTRAY_BACKEND", "gtk")
    assert ui.choose_backend() == "gtk"
    with pytest.raises(ValueError, match="unknown tray backend 'qt'"):
        ui.choose_backend("qt")


def test_linux_backend_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYSTRAY_BACKEND", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(ui, "_gtk_available", lambda appindicator: True)
    monkeypatch.setattr(ui, "_has_status_notifier_host", lambda: True)
    assert ui.choose_backend() == "appindicator"
    monkeypatch.setattr(ui, "_has_status_notifier_host", lambda: False)
    assert ui.choose_backend() == "gtk"  # AppIndicator without a host would lose the click action
    monkeypatch.setattr(ui, "_gtk_available", lambda appindicator: False)
    assert ui.choose_backend() == "xorg"


def test_no_status_notifier_host_without_a_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    assert ui._has_status_notifier_host() is False


# --- the pystray menu built from the model (dummy backend: no display needed) ---


@pytest.fixture
def pystray_dummy(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("PYSTRAY_BACKEND", "dummy")
    import pystray

    return pystray


def test_menu_model_becomes_pystray_items(pystray_dummy: Any) -> None:
    fired: list[Command] = []
    tray = ui.TrayUI(fired.append, backend="gtk", dark=False)
    status = {"state": "paused", "paused": True, "folders": [{"id": "f1", "local": "/d/Docs"}], "conflicts": 0}
    view = build_view(Snapshot(connected=True, status=status, settings={"start_at_login": True}), 0)
    menu = tray._menu(view)
    items = list(menu.items)
    assert [i.text for i in items if i is not pystray_dummy.Menu.SEPARATOR][:3] == [
        "Paused", "Resume syncing", "Open “Docs”"]
    status_item = items[0]
    assert not status_item.enabled
    resume = next(i for i in items if i.text == "Resume syncing")
    assert resume.default
    assert resume.enabled
    resume(None)
    assert fired == [Command("resume")]
    settings = next(i for i in items if i.text == "Settings")
    login = next(i for i in settings.submenu.items if i.text == "Start at login")
    assert login.checked is True
    upload = next(i for i in settings.submenu.items if i.text.startswith("Upload limit"))
    radios = list(upload.submenu.items)
    assert all(r.radio for r in radios)
    radios[1](None)
    assert fired[-1] == Command("settings_set", ("upload_limit_kbps", 100))
    # the icon's click runs the default item
    menu(None)
    assert fired[-1] == Command("resume")


def test_a_view_shown_while_the_icon_appears_reaches_the_screen(monkeypatch: pytest.MonkeyPatch,
                                                                pystray_dummy: Any) -> None:
    """The daemon's first status can arrive while pystray is still switching the icon visible. pystray's
    `visible` setter draws the image it saw first and then marks the icon valid, and its `icon` setter draws
    nothing while the icon is not yet visible: a view pushed in between never reached the screen, and the tray
    showed "not running" beside a daemon that was up to date (CI's Xorg test, under load). Replayed here at
    exactly that step, on pystray's own setters."""
    from pystray import _base

    fired: list[Command] = []
    tray = ui.TrayUI(fired.append, backend="gtk", dark=False)
    starting = build_view(Snapshot(connected=False, status=None, settings=None), 0)
    up_to_date = build_view(Snapshot(connected=True, status={"state": "idle", "message": "Up to date",
                                                             "paused": False, "conflicts": 0},
                                     settings={}), 0)
    assert starting.icon != up_to_date.icon
    drawn: list[bytes] = []

    class RecordingIcon(_base.Icon):  # type: ignore[misc]  # pystray ships no types
        def _update_icon(self) -> None:
            drawn.append(self.icon.tobytes())
            self._icon_valid = True
            if len(drawn) == 1:  # the daemon answers while `visible = True` is half done
                pusher = threading.Thread(target=tray.show, args=(up_to_date,))
                pusher.start()
                pusher.join()

        def _show(self) -> None: ...
        def _hide(self) -> None: ...
        def _update_title(self) -> None: ...
        def _update_menu(self) -> None: ...
        def _run(self) -> None:
            self._mark_ready()
            self._setup_thread.join(timeout=10)
        def _stop(self) -> None: ...

    monkeypatch.setattr(pystray_dummy, "Icon", RecordingIcon)
    tray.run(starting, on_ready=lambda: None)
    assert drawn[-1] == tray._image(up_to_date.icon).tobytes(), "the icon still shows the view before the daemon's"


def test_xorg_titles_are_latin1() -> None:
    tray = ui.TrayUI(lambda c: None, backend="xorg", dark=False)
    assert tray._title("Ferry — Syncing 2 files — 1 MB/s · “x”…") == 'Ferry - Syncing 2 files - 1 MB/s - "x"...'
    assert ui.TrayUI(lambda c: None, backend="gtk", dark=False)._title("a — b") == "a — b"


class _XorgIcon:  # the two attributes of pystray's Xorg Icon that dock_once relies on
    def __init__(self) -> None:
        self._systray_manager: object | None = None
        self.requests = 0

    def _assert_docked(self) -> None:
        self.requests += 1
        self._systray_manager = object()


def test_xorg_icon_asks_to_dock_once_per_tray() -> None:
    """Every redraw of pystray's Xorg icon asked the tray to dock it again (trayer then loses it now and then,
    see test_tray_xvfb): one request per tray manager, and a new request once that manager is gone."""
    icon = _XorgIcon()
    docking = backend_fixes.dock_once(icon, embedded=lambda: True)
    assert docking is not None
    for _ in range(3):  # shown (pystray docks twice there), then redrawn
        icon._assert_docked()
    assert icon.requests == 1
    icon._systray_manager = None  # the tray went away (DestroyNotify) or the icon was hidden
    icon._assert_docked()
    icon._assert_docked()
    assert icon.requests == 2
    assert backend_fixes.dock_once(object()) is None  # another backend: left alone


def test_xorg_icon_asks_again_when_the_tray_dropped_its_request() -> None:
    """A tray that owns the selection but is not ready yet (a panel starting at login, or under load) drops the
    request: a redraw after the check time asks again while the window is not in the tray, and once it is,
    nothing more is asked or redrawn."""
    icon = _XorgIcon()
    inside = [False]
    docking = backend_fixes.dock_once(icon, embedded=lambda: inside[0], check_s=0.0)
    assert docking is not None
    icon._assert_docked()
    icon._assert_docked()  # the first request came to nothing
    assert icon.requests == 2
    assert not docking.confirmed
    redraws: list[int] = []

    def redraw() -> None:
        redraws.append(1)
        if len(redraws) == 3:
            inside[0] = True  # the tray took it at last
        icon._assert_docked()

    backend_fixes.keep_docked(docking, redraw, threading.Event(), check_s=0.0)
    assert docking.confirmed
    assert len(redraws) == 3, "redrawn until the window was seen in the tray, then no more"
    assert icon.requests == 4, "asked again at each redraw that found it outside the tray"
    stopped = threading.Event()
    stopped.set()
    backend_fixes.keep_docked(backend_fixes.Docking(), lambda: redraws.append(1), stopped)
    assert len(redraws) == 3, "a tray app that quits stops checking"


def test_view_default_matches_the_menu() -> None:
    view = View("idle", "Up to date", "t", (Item("x"), Submenu("s", (Item("y", Command("pause"), default=True),)),
                                            Item("Pause", Command("pause"), default=True)))
    assert view.default == Command("pause")


# --- command line ---


def test_cli_refuses_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--icon-size", "4"], ["--backend", "qt"], ["--daemon-command", "  "]):
        with pytest.raises(SystemExit) as exc:
            parse_args(argv)
        assert exc.value.code == 2
    assert "--icon-size must be between 8 and 1024" in capsys.readouterr().err


def test_default_daemon_command_is_runnable() -> None:
    argv = default_daemon_command()
    assert Path(argv[0]).name in ("ferry", "ferryd") or argv[1:3] == ["-m", "ferrysync.daemon.main"]


def test_without_a_display_the_tray_says_why(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(FERRY_HOME=str(tmp_path / "home"), DBUS_SESSION_BUS_ADDRESS="unix:path=/nonexistent")
    done = subprocess.run([bin_path("ferry-tray"), "--backend", "xorg"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    assert "cannot show a tray icon" in done.stderr
    assert "no DISPLAY" in done.stderr
