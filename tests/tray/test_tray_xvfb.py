"""ferry-tray for real: under Xvfb, docked in trayer, driven with xdotool, checked by screenshots and through
the daemon. Skipped with the reason when Xvfb/trayer/GTK are missing (CI installs them)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageFilter, ImageStat
from traygui import (
    best_match,
    daemon_view,
    icon_centre,
    keys_to,
    open_menu,
    recording_browser,
    tray_crop,
    wait_icon,
    wait_title,
)
from trayprocs import FakeDaemonProcess, TrayProcess
from util import stop_process, wait_until
from xsession import XSession

from ferrysync.tray.icons import STATES, render_icon

pytestmark = [pytest.mark.tray, pytest.mark.timeout(120)]

STATE_FIELDS: dict[str, dict[str, Any]] = {
    "idle": {"state": "idle", "message": "Up to date", "paused": False},
    "syncing": {"state": "syncing", "message": "Syncing", "pending_up": {"count": 12, "bytes": 9_000_000},
                "speed_up": 3_400_000.0},
    "paused": {"state": "paused", "message": "Paused", "paused": True},
    "offline": {"state": "offline", "message": "Offline", "retry_in": 20.0},
    "error": {"state": "error", "message": "The folder /home/ann/Docs is missing"},
    "attention": {"state": "idle", "message": "Up to date", "conflicts": 2},
}
RESET = {"state": "idle", "message": "Up to date", "paused": False, "pending_up": {"count": 0, "bytes": 0},
         "speed_up": 0.0, "retry_in": None, "conflicts": 0}


def choose(session: XSession, tray: TrayProcess, daemon: FakeDaemonProcess, path: list[str]) -> None:
    view = daemon_view(daemon)
    open_menu(session, tray, view)
    session.key(*keys_to(view, path))


# --- tests ---


def test_icon_docks_and_shows_every_state(desktop_session: XSession, daemon: FakeDaemonProcess,
                                          tray: TrayProcess, artifacts: Callable[[str], Path]) -> None:
    daemon.start()
    tray.start()
    _, size = best_match(wait_icon(desktop_session, "idle"), "idle")  # the size it is drawn at on the screen
    assert 16 <= size <= 32
    crops = {}
    for state in STATES:
        daemon.set_state(**{**RESET, **STATE_FIELDS[state]})
        crops[state] = wait_icon(desktop_session, state)
        crops[state].save(artifacts(f"tray-{state}.png"), optimize=True)
    strip = Image.new("RGB", (sum(c.width for c in crops.values()) + 8 * (len(crops) - 1), 32), (255, 255, 255))
    x = 0
    for crop in crops.values():
        strip.paste(crop, (x, 0))
        x += crop.width + 8
    strip.resize((strip.width * 2, strip.height * 2), Image.Resampling.NEAREST).save(
        artifacts("tray-states.png"), optimize=True)


def test_click_toggles_pause(desktop_session: XSession, daemon: FakeDaemonProcess, tray: TrayProcess) -> None:
    daemon.start()
    tray.start()
    wait_icon(desktop_session, "idle")
    desktop_session.click(*icon_centre(desktop_session))
    wait_until(lambda: daemon.call("status")["paused"] is True, what="the click to pause the daemon")
    wait_icon(desktop_session, "paused")
    desktop_session.click(*icon_centre(desktop_session))
    wait_until(lambda: daemon.call("status")["paused"] is False, what="the click to resume the daemon")
    wait_icon(desktop_session, "idle")


def test_menu_actions_reach_the_daemon(desktop_session: XSession, daemon: FakeDaemonProcess, tray: TrayProcess,
                                       artifacts: Callable[[str], Path], tmp_path: Path) -> None:
    daemon.start()
    docs = tmp_path / "Docs"
    docs.mkdir()
    now = time.time()
    daemon.set_state(
        state="syncing", pending_up={"count": 12, "bytes": 1}, speed_up=3_400_000.0, conflicts=1,
        folders=[{"id": "f1", "local": str(docs), "remote": "/Docs", "state": "idle", "message": ""}],
        lists={"conflicts": [{"folder_id": "f1", "path": "plan (conflicted copy from laptop 2026-11-26 142501).odt",
                              "original": "plan.odt", "time": now}],
               "activity": [{"time": now, "folder_id": "f1", "path": "report.pdf", "direction": "up",
                             "action": "upload", "size": 1}]})
    tray.start()
    wait_icon(desktop_session, "attention")

    shot, changed = open_menu(desktop_session, tray, daemon_view(daemon))
    x, _, w, _ = desktop_session.tray_window() or (0, 0, 0, 0)
    box = (min(changed[0], x) - 4, 0, max(changed[2], x + w), min(shot.height, changed[3] + 4))
    shot.crop((max(0, box[0]), box[1], box[2], box[3])).save(artifacts("tray-menu.png"), optimize=True)
    desktop_session.key(*keys_to(daemon_view(daemon), ["Settings"])[:-1])  # open the submenu, choose nothing

    def submenu_drawn() -> tuple[Image.Image, tuple[int, int, int, int]] | None:
        now = desktop_session.screenshot()
        grown = ImageChops.difference(now, shot).getbbox()
        return (now, grown) if grown and grown[0] < changed[0] else None

    shot2, grown = wait_until(submenu_drawn, what="the Settings submenu to open")
    left = max(0, min(grown[0], changed[0]) - 4)
    shot2.crop((left, 0, shot2.width, min(shot2.height, max(grown[3], changed[3]) + 4))).save(
        artifacts("tray-menu-settings.png"), optimize=True)
    desktop_session.key("Escape", "Escape")

    choose(desktop_session, tray, daemon, ["Settings", "Start at login"])
    wait_until(lambda: daemon.call("settings_get")["settings"]["start_at_login"] is True,
               what="Start at login to reach the daemon")
    choose(desktop_session, tray, daemon, ["Settings", "Upload limit", "1 MB/s"])
    wait_until(lambda: daemon.call("settings_get")["settings"]["upload_limit_kbps"] == 1000,
               what="the upload limit to reach the daemon")
    choose(desktop_session, tray, daemon, ["Pause syncing"])
    wait_until(lambda: daemon.call("status")["paused"] is True, what="Pause to reach the daemon")
    wait_icon(desktop_session, "paused")
    choose(desktop_session, tray, daemon, ["Quit Ferry"])
    wait_until(lambda: not daemon.is_running(), what="Quit Ferry to stop the daemon")
    assert tray.proc is not None
    assert tray.proc.wait(timeout=15) == 0


def test_tray_follows_the_daemon_away_and_back(desktop_session: XSession, daemon: FakeDaemonProcess,
                                               tray: TrayProcess) -> None:
    daemon.start()
    tray.start()
    wait_icon(desktop_session, "idle")
    daemon.kill()
    wait_icon(desktop_session, "offline")
    wait_title(desktop_session, "Ferry — Ferry is not running")
    daemon.start()  # restarted by someone else: the tray reconnects by itself
    wait_icon(desktop_session, "idle")
    daemon.kill()
    wait_icon(desktop_session, "offline")
    # "Start Ferry" is the click action while the daemon is away: the tray starts it, detached.
    desktop_session.click(*icon_centre(desktop_session))
    wait_until(daemon.is_running, timeout=20, what="Start Ferry to start the daemon")
    wait_icon(desktop_session, "idle")


def test_xorg_backend_docks_and_click_opens_preferences(desktop_session: XSession, daemon: FakeDaemonProcess,
                                                        tray: TrayProcess, tmp_path: Path) -> None:
    """pystray's Xorg backend has no menu: its click opens the settings window, where the menu's choices are.

    Each change of state redraws the icon; pystray asked the tray to dock it again every time, and trayer (like
    any tray without a duplicate check) then moved it into a fresh socket and now and then left it in none, the
    dock shrunk to 2 px. The icon stays docked, in one slot, through every state."""
    daemon.start()
    opened = tmp_path / "opened.txt"
    tray.start("xorg", "--icon-size", "30", env={"BROWSER": recording_browser(tmp_path, opened)})
    wait_icon(desktop_session, "idle", stretched_from=30)
    docked = desktop_session.tray_window()
    for state in [*STATES, "idle"]:
        daemon.set_state(**{**RESET, **STATE_FIELDS[state]})
        wait_icon(desktop_session, state, stretched_from=30)
        assert desktop_session.tray_window() == docked, "the dock changed size: the icon left its slot"
    x, y, w, h = desktop_session.tray_window() or (0, 0, 0, 0)
    desktop_session.click(x + w // 2, y + h // 2)
    wait_until(lambda: opened.exists() and opened.read_text().strip(), what="the click to open a browser")
    assert opened.read_text().split() == ["http://127.0.0.1:1/fake/login?ticket=fake-ticket-1"]
    assert daemon.call("status")["paused"] is False, "the click no longer pauses"


def test_a_second_tray_for_the_same_daemon_is_refused(desktop_session: XSession, daemon: FakeDaemonProcess,
                                                      tray: TrayProcess, tmp_path: Path) -> None:
    daemon.start()
    tray.start()
    wait_icon(desktop_session, "idle")
    second = TrayProcess(desktop_session, daemon, tmp_path / "second.log").start()
    assert second.proc is not None
    assert second.proc.wait(timeout=15) == 1
    assert "already running" in second.text()


def test_quit_tray_without_a_notification_service(desktop_session: XSession, daemon: FakeDaemonProcess,
                                                  tray: TrayProcess) -> None:
    """pystray's GTK backend talks to org.freedesktop.Notifications when it stops; without one, quitting must
    still be clean — and leave the daemon running."""
    desktop_session.stop_notifications()
    daemon.start()
    tray.start()
    wait_icon(desktop_session, "idle")
    choose(desktop_session, tray, daemon, ["Quit tray"])
    assert tray.proc is not None
    assert tray.proc.wait(timeout=15) == 0
    assert "Traceback" not in tray.text()
    assert daemon.is_running()


def test_hidpi_icon_is_drawn_for_device_pixels(desktop_session: XSession, daemon: FakeDaemonProcess,
                                               tray: TrayProcess) -> None:
    """At GDK_SCALE=2 the tray asks for 15 logical px: it draws 30 px, and what reaches the screen carries the
    detail of that drawing, not the blur of a 15 px image blown up (measured as edge energy)."""
    daemon.start()
    tray.start(env={"GDK_SCALE": "2"})
    found = tray.wait_log(r"the tray shows the icon at (\d+) px \(drawn at (\d+) px\)")
    logical, drawn = int(found.group(1)), int(found.group(2))
    assert drawn == 2 * logical
    wait_title(desktop_session, "Ferry — Up to date")

    def energy(img: Image.Image) -> float:
        return float(sum(ImageStat.Stat(img.convert("L").filter(ImageFilter.FIND_EDGES)).sum))

    def blown_up_energy(crop: Image.Image) -> float:
        small = render_icon("idle", logical).resize((drawn, drawn), Image.Resampling.BILINEAR)
        base = Image.new("RGB", crop.size, crop.getpixel((0, 0)))
        base.paste(small, ((crop.width - drawn) // 2, (crop.height - drawn) // 2), small)
        return energy(base)

    wait_until(lambda: (crop := tray_crop(desktop_session)) and energy(crop) > 1.1 * blown_up_energy(crop),
               what="a sharp 2x icon on screen")


def test_xorg_icon_docks_in_a_panel_that_starts_after_the_tray_app(
        desktop_session: XSession, daemon: FakeDaemonProcess, tray: TrayProcess) -> None:
    """At login the tray app may start before the panel's tray. pystray's Xorg backend then had nothing to dock in
    and asked again only at its next redraw, which an idle folder never makes: no icon until something synced.
    The app now checks until the tray has its icon (backend_fixes.keep_docked)."""
    panel = next(p for p in desktop_session.procs if "trayer" in str(p.args))
    stop_process(panel)
    desktop_session.procs.remove(panel)
    daemon.start()
    tray.start("xorg", "--icon-size", "30")
    wait_until(lambda: "Failed to dock icon" in tray.text(), what="the tray app to find no tray to dock in")
    desktop_session._start_trayer()
    wait_icon(desktop_session, "idle", stretched_from=30)
