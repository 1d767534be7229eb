"""Seeing and driving the docked tray icon under Xvfb: which state's image it shows, its title, and its GTK menu.

Shared by the tray tests that run ferry-tray for real (test_tray_xvfb with the fake daemon, test_tray_real_daemon).
"""

from __future__ import annotations

import time
from pathlib import Path

from PIL import Image, ImageChops, ImageStat
from trayprocs import DaemonUnderTest, TrayProcess
from util import wait_until
from xsession import XSession

from ferrysync.tray.icons import STATES, render_icon
from ferrysync.tray.view import Item, Node, Snapshot, Submenu, View, build_view

# --- finding the icon on screen ---


def tray_crop(session: XSession, shot: Image.Image | None = None) -> Image.Image:
    box = session.tray_window()
    assert box is not None, "trayer has no window"
    x, y, w, h = box
    return (shot or session.screenshot()).crop((x, y, x + w, y + h))


def diff(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def best_match(crop: Image.Image, state: str) -> tuple[float, int]:
    """How closely the docked icon matches `state`'s image (mean abs difference, 0-255), and at which size.

    The icon is composited over trayer's background at the sizes a tray may ask for, near the centre."""
    bg = crop.getpixel((0, 0))
    found = ImageChops.difference(crop, Image.new("RGB", crop.size, bg)).getbbox()
    if found is None:
        return 255.0, 0
    best = (255.0, 0)
    side = max(found[2] - found[0], found[3] - found[1])
    for size in range(max(8, side - 2), side + 3):
        icon = render_icon(state, size)
        for dx in range(found[0] - 2, found[0] + 3):
            for dy in range(found[1] - 2, found[1] + 3):
                if dx < 0 or dy < 0 or dx + size > crop.width or dy + size > crop.height:
                    continue
                base = Image.new("RGB", crop.size, bg)
                base.paste(icon, (dx, dy), icon)
                best = min(best, (diff(base, crop), size))
    return best


def stretched_match(crop: Image.Image, state: str, size: int) -> tuple[float, int]:
    """pystray's Xorg backend has no transparency and stretches the image over its whole slot: compare with
    exactly that."""
    found = ImageChops.difference(crop, Image.new("RGB", crop.size, crop.getpixel((0, 0)))).getbbox()
    if found is None:
        return 255.0, 0
    slot = crop.crop(found)
    expected = render_icon(state, size).resize(slot.size, Image.Resampling.LANCZOS)
    flat = Image.new("RGB", slot.size, (0, 0, 0))
    flat.paste(expected.convert("RGB"))
    return diff(flat, slot), size


def shows(session: XSession, state: str, stretched_from: int | None = None) -> Image.Image | None:
    """The tray crop when the docked icon is `state`'s image and no other state's, else None."""
    crop = tray_crop(session)
    if stretched_from:
        scores = {s: stretched_match(crop, s, stretched_from)[0] for s in STATES}
    else:
        scores = {s: best_match(crop, s)[0] for s in STATES}
    if scores[state] < 2.0 and all(scores[s] > scores[state] + 10 for s in STATES if s != state):
        return crop
    return None


def wait_icon(session: XSession, state: str, timeout: float = 15, stretched_from: int | None = None) -> Image.Image:
    return wait_until(lambda: shows(session, state, stretched_from), timeout=timeout,
                      what=f"the docked icon to show {state!r}")


def wait_title(session: XSession, start: str, timeout: float = 15) -> str:
    """Wait until the docked icon's tooltip (what the tray says in words beside the icon) begins with `start`;
    a countdown may follow, as in "Offline — retrying in 9 s"."""

    def shown() -> str | None:
        titles = session.icon_titles()
        return titles[0] if len(titles) == 1 and titles[0].startswith(start) else None

    return wait_until(shown, timeout=timeout, what=f"the icon's title to begin with {start!r}")


def icon_centre(session: XSession) -> tuple[int, int]:
    x, y, _, _ = session.tray_window() or (0, 0, 0, 0)
    crop = tray_crop(session)
    found = ImageChops.difference(crop, Image.new("RGB", crop.size, crop.getpixel((0, 0)))).getbbox()
    assert found is not None, "no icon docked"
    return x + (found[0] + found[2]) // 2, y + (found[1] + found[3]) // 2


# --- driving the menu from the view model ---


def daemon_view(daemon: DaemonUnderTest) -> View:
    """The view the tray should show for the daemon's state now (fetched as the tray's controller does)."""
    status = daemon.call("status")
    snap = Snapshot(
        connected=True, status=status, settings=daemon.call("settings_get")["settings"],
        activity=tuple(daemon.call("activity", limit=50)["activity"]),
        conflicts=tuple(daemon.call("conflicts")["conflicts"]) if status["conflicts"] else (),
        deletions=tuple(daemon.call("deletions")["pending"]) if status["deletions_pending"] else (),
    )
    return build_view(snap, time.time())


def keys_to(view: View, path: list[str]) -> list[str]:
    """The keystrokes that reach `path` (labels, outermost first) in the GTK menu built from `view`.

    GTK's keyboard navigation skips separators and insensitive items; Right opens a submenu on its first item."""
    keys: list[str] = []
    nodes: tuple[Node, ...] = view.menu
    for depth, label in enumerate(path):
        selectable = [n for n in nodes if isinstance(n, Submenu) or (isinstance(n, Item) and n.active)]
        index = next(i for i, n in enumerate(selectable) if n.label.startswith(label))
        keys += ["Down"] * (index + 1 if depth == 0 else index)
        node = selectable[index]
        if isinstance(node, Submenu):
            keys.append("Right")
            nodes = node.items
    keys.append("Return")
    return keys


BELOW_PANEL = 40  # px: menus open under the top panel; Xvfb's bare root window is black


def no_menu_open(session: XSession) -> Image.Image | None:
    shot = session.screenshot()
    below = shot.crop((0, BELOW_PANEL, shot.width, shot.height))
    return shot if below.convert("L").getbbox() is None else None  # all black: nothing drawn there


def open_menu(session: XSession, tray: TrayProcess, view: View) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """Right-click the icon once the tray shows `view`'s menu: the screenshot with the menu open, and where
    the screen changed."""
    tray.wait_log(rf"\[menu {view.digest}\]")
    before = wait_until(lambda: no_menu_open(session), what="no menu to be open")
    x, y = icon_centre(session)
    session.click(x, y, button=3)

    def menu_drawn() -> tuple[Image.Image, tuple[int, int, int, int]] | None:
        shot = session.screenshot()
        below = (0, BELOW_PANEL, shot.width, shot.height)
        if ImageChops.difference(shot.crop(below), before.crop(below)).getbbox() is None:
            return None
        changed = ImageChops.difference(shot, before).getbbox()
        assert changed is not None
        return shot, changed

    return wait_until(menu_drawn, timeout=10, what="the menu to open")


def recording_browser(tmp_path: Path, record: Path) -> str:
    """A $BROWSER (honoured by Python's webbrowser) that writes down the address it was asked to open."""
    script = tmp_path / "browser.sh"
    script.write_text(f'#!/bin/sh\necho "$1" >> "{record}"\n')
    script.chmod(0o755)
    return str(script)
