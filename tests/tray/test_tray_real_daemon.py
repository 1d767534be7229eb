"""ferry-tray against the real ferryd and ferry-server, under Xvfb + trayer + a session bus.

The same screen checks as test_tray_xvfb.py (the docked icon's pixels against each state's image), but every
state is brought about for real: a click pauses the daemon (and `ferry status --json` says so), stopping the
server makes it offline, held mass deletions need attention, kill -9 leaves the tray saying Ferry is not
running until a new ferryd comes up, and menu choices land in the daemon's settings and deletions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image, ImageChops
from traygui import daemon_view, icon_centre, keys_to, open_menu, recording_browser, wait_icon, wait_title
from trayprocs import RealDaemon, TrayProcess
from util import wait_until
from xsession import XSession

from ferrysync.tray.view import Item, Submenu, View

pytestmark = [pytest.mark.tray, pytest.mark.timeout(120)]


@pytest.fixture
def daemon(real_daemon: RealDaemon) -> RealDaemon:
    """The `tray` fixture's daemon, here the real one."""
    return real_daemon


def settled_view(tray: TrayProcess, daemon: RealDaemon) -> View:
    """The tray's current menu, once it is the one the daemon's state calls for (a real daemon moves on by
    itself: its activity grows, its status settles)."""

    def matches() -> View | None:
        view = daemon_view(daemon)
        shown = re.findall(r"\[menu (\w+)\]", tray.text())
        return view if shown and shown[-1] == view.digest else None

    return wait_until(matches, timeout=20, what="the tray's menu to show the daemon's state")


def choose(session: XSession, tray: TrayProcess, daemon: RealDaemon, path: list[str]) -> Image.Image:
    """Pick `path` (menu labels, outermost first) in the tray's real GTK menu. Returns a picture of the menu
    with the tray beside it, taken with the first submenu on the path open (if there is one)."""
    view = settled_view(tray, daemon)
    shot, changed = open_menu(session, tray, view)
    keys = keys_to(view, path)
    if "Right" not in keys:
        session.key(*keys)
    else:
        split = keys.index("Right") + 1
        session.key(*keys[:split])

        def submenu_drawn() -> tuple[Image.Image, tuple[int, int, int, int]] | None:
            now = session.screenshot()
            grown = ImageChops.difference(now, shot).getbbox()
            return (now, grown) if grown and grown[0] < changed[0] else None

        shot, grown = wait_until(submenu_drawn, what=f"the {path[0]!r} submenu to open")
        changed = (grown[0], changed[1], changed[2], max(changed[3], grown[3]))
        session.key(*keys[split:])
    x, _, w, _ = session.tray_window() or (0, 0, 0, 0)
    return shot.crop((max(0, min(changed[0], x) - 4), 0, max(changed[2], x + w), min(shot.height, changed[3] + 4)))


def click_icon(session: XSession) -> None:
    session.click(*icon_centre(session))


def user_status(daemon: RealDaemon, **expected: Any) -> dict[str, Any] | None:
    """`ferry status --json` when every `expected` field has that value, else None."""
    status = daemon.status()
    return status if all(status.get(k) == v for k, v in expected.items()) else None


def test_click_pauses_and_resumes_then_a_server_outage_shows_offline(
        desktop_session: XSession, daemon: RealDaemon, tray: TrayProcess, alice_server: Any,
        artifacts: Callable[[str], Path]) -> None:
    tray.start()
    wait_icon(desktop_session, "idle", timeout=30).save(artifacts("real-idle.png"), optimize=True)

    click_icon(desktop_session)
    wait_until(lambda: user_status(daemon, paused=True, state="paused"), timeout=15,
               what="the click to pause the real daemon (ferry status --json)")
    wait_icon(desktop_session, "paused").save(artifacts("real-paused.png"), optimize=True)
    click_icon(desktop_session)
    wait_until(lambda: user_status(daemon, paused=False), timeout=15, what="the click to resume the daemon")
    wait_icon(desktop_session, "idle")

    alice_server.stop()
    wait_icon(desktop_session, "offline", timeout=30).save(artifacts("real-offline.png"), optimize=True)
    wait_title(desktop_session, "Ferry — Offline")
    assert daemon.status()["state"] == "offline"


def test_held_deletions_need_attention_and_menu_choices_reach_the_daemon(
        desktop_session: XSession, daemon: RealDaemon, tray: TrayProcess,
        artifacts: Callable[[str], Path]) -> None:
    folder = daemon.device.folder
    daemon.ferry("settings", "set", "delete_threshold_count", "2")
    for i in range(3):
        (folder / f"draft{i}.txt").write_text(f"draft {i}")
    daemon.device.wait_synced()
    tray.start()
    wait_icon(desktop_session, "idle", timeout=30)

    for i in range(3):
        (folder / f"draft{i}.txt").unlink()
    wait_until(lambda: user_status(daemon, deletions_pending=3), timeout=30,
               what="the daemon to hold the three deletions")
    wait_icon(desktop_session, "attention").save(artifacts("real-attention.png"), optimize=True)
    wait_title(desktop_session, daemon_view(daemon).title)
    held = next(n for n in settled_view(tray, daemon).menu if isinstance(n, Submenu) and n.label.startswith("Del"))
    assert held.label == "Deletions waiting (3)"
    assert {n.label for n in held.items if isinstance(n, Item) and n.command is None} == {
        "draft0.txt", "draft1.txt", "draft2.txt"}, "listed as the user knows them, inside the folder"

    choose(desktop_session, tray, daemon, ["Settings", "Upload limit", "1 MB/s"])
    wait_until(lambda: daemon.device.json("settings", "get")["settings"]["upload_limit_kbps"] == 1000,
               what="the upload limit chosen in the menu to reach the daemon (ferry settings get --json)")

    shot = choose(desktop_session, tray, daemon, ["Deletions waiting", "Approve all deletions"])
    shot.save(artifacts("real-menu-deletions.png"), optimize=True)
    wait_until(lambda: user_status(daemon, deletions_pending=0), timeout=30,
               what="approving in the menu to release the deletions")
    wait_icon(desktop_session, "idle", timeout=30)
    daemon.device.wait_synced()
    assert daemon.device.json("deletions", "list")["pending"] == []

    choose(desktop_session, tray, daemon, ["Pause syncing"])
    wait_until(lambda: user_status(daemon, paused=True), what="Pause in the menu to pause the daemon")
    wait_icon(desktop_session, "paused")


def test_preferences_opens_the_daemons_settings_window(desktop_session: XSession, daemon: RealDaemon,
                                                      tray: TrayProcess, tmp_path: Path) -> None:
    """GTK menu ▸ Preferences…: the tray asks the real daemon for a one-time address and hands it to the browser
    ($BROWSER, honoured by Python's webbrowser, records it here); that address opens the window once."""
    opened = tmp_path / "opened.txt"
    tray.start(env={"BROWSER": recording_browser(tmp_path, opened)})
    wait_icon(desktop_session, "idle", timeout=30)
    choose(desktop_session, tray, daemon, ["Preferences…"])
    url = str(wait_until(lambda: opened.exists() and opened.read_text().strip(), what="Preferences… to open a browser"))
    assert url.startswith("http://127.0.0.1:")
    with requests.Session() as browser:
        page = browser.get(url, timeout=10)
        assert page.status_code == 200
        assert "<h1>Status</h1>" in page.text
        assert str(daemon.device.folder.resolve()) in page.text
    assert requests.get(url, timeout=10).status_code == 403, "the address works once"


def test_a_killed_daemon_shows_not_running_and_a_restarted_one_is_followed(
        desktop_session: XSession, daemon: RealDaemon, tray: TrayProcess,
        artifacts: Callable[[str], Path]) -> None:
    tray.start()
    wait_icon(desktop_session, "idle", timeout=30)

    daemon.kill()
    wait_icon(desktop_session, "offline").save(artifacts("real-not-running.png"), optimize=True)
    wait_title(desktop_session, "Ferry — Ferry is not running")

    daemon.start()  # a new ferryd, started by someone else: the tray reconnects by itself
    wait_icon(desktop_session, "idle", timeout=30)
    wait_title(desktop_session, "Ferry — Up to date")
    settled_view(tray, daemon)
