"""The pystray side of the tray: backend choice, the icon, and the menu model turned into pystray objects.

pystray is imported lazily (its Xorg backend opens the display at import time). Updates may come from any
thread: `ui_call` marshals them to the main thread on macOS (Cocoa insists); the GTK, AppIndicator and Xorg
backends marshal internally, so there it calls straight through.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from ferrysync.tray.backend_fixes import (
    dock_once,
    gtk_scale_factor,
    keep_docked,
    listen_for_clicks,
    tolerate_missing_notification_service,
)
from ferrysync.tray.icons import render_icon
from ferrysync.tray.view import Command, Item, Node, Separator, Submenu, View

log = logging.getLogger("ferrysync.tray")

BACKENDS = ("appindicator", "gtk", "xorg", "darwin", "win32")
DEFAULT_ICON_SIZE = {"appindicator": 44, "gtk": 22, "xorg": 24, "darwin": 44, "win32": 32}
SNI_WATCHER = "org.kde.StatusNotifierWatcher"


def ui_call(fn: Callable[[], None]) -> None:
    """Run `fn` on the UI thread (macOS) or right here (backends that marshal themselves)."""
    if sys.platform == "darwin":
        from PyObjCTools import AppHelper

        AppHelper.callAfter(fn)
    else:
        fn()


def _has_status_notifier_host() -> bool:
    """True when a StatusNotifierWatcher (KDE, GNOME's AppIndicator extension, waybar…) owns its bus name."""
    try:
        import gi

        gi.require_version("Gio", "2.0")
        from gi.repository import Gio, GLib
    except (ImportError, ValueError):  # no gi, or no Gio namespace
        return False
    try:
        bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
        reply = bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                              "NameHasOwner", GLib.Variant("(s)", (SNI_WATCHER,)), None,
                              Gio.DBusCallFlags.NONE, 1000, None)
    except GLib.Error:  # no session bus: no StatusNotifier host
        return False
    return bool(reply.unpack()[0])


def _gtk_available(appindicator: bool) -> bool:
    try:
        import gi

        gi.require_version("Gtk", "3.0")
        if appindicator:
            try:
                gi.require_version("AyatanaAppIndicator3", "0.1")
            except ValueError:
                gi.require_version("AppIndicator3", "0.1")
        return True
    except (ImportError, ValueError):
        return False


def choose_backend(requested: str | None = None) -> str:
    """The pystray backend for this desktop.

    On Linux AppIndicator is only chosen when a StatusNotifier host runs: without one it falls back to an
    XEmbed icon on which a click opens the menu instead of running the default action. Then GTK's XEmbed icon
    (full menu, a click toggles pause), and the bare Xorg backend (no menu) last.
    """
    choice = requested or os.environ.get("PYSTRAY_BACKEND") or None
    if choice:
        if choice not in BACKENDS:
            raise ValueError(f"unknown tray backend {choice!r}; expected one of {', '.join(BACKENDS)}")
        return choice
    if sys.platform in ("darwin", "win32"):
        return sys.platform
    if _has_status_notifier_host() and _gtk_available(appindicator=True):
        return "appindicator"
    if _gtk_available(appindicator=False):
        return "gtk"
    return "xorg"


class NoTray(RuntimeError):
    """The tray icon cannot be shown here (no display, no usable backend)."""


class TrayUI:
    """The presenter: shows `View`s on a pystray icon and sends chosen commands to `on_command`."""

    def __init__(self, on_command: Callable[[Command], None], *, backend: str, dark: bool,
                 icon_size: int | None = None) -> None:
        self._on_command = on_command
        self.backend = backend
        self._dark = dark
        self._size = icon_size or DEFAULT_ICON_SIZE.get(backend, 24)
        self._fixed_size = icon_size is not None
        self._scale = 1
        self._lock = threading.Lock()
        self._view: View | None = None
        self._shown: View | None = None
        self._icon: Any = None
        self._live = False  # the icon is visible: views may be pushed to it
        self._quitting = threading.Event()  # set by quit()

    # --- Presenter protocol (any thread) ---

    def show(self, view: View) -> None:
        with self._lock:
            self._view = view
            ready = self._live
        if ready:
            ui_call(self._apply)

    def quit(self) -> None:
        self._quitting.set()
        icon = self._icon
        if icon is not None:
            try:
                ui_call(icon.stop)
            except Exception as exc:  # noqa: BLE001 - backends raise their toolkit's errors (GLib, Xlib) here; quit anyway
                log.debug("stopping the icon raised: %s", exc)

    # --- UI thread ---

    def run(self, initial: View, on_ready: Callable[[], None]) -> None:
        """Create the icon and run the UI loop on this (the main) thread until `quit()`."""
        os.environ["PYSTRAY_BACKEND"] = self.backend
        try:
            import pystray
        except Exception as exc:  # pystray raises ImportError, Xlib DisplayNameError, GLib errors…
            where = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
            hint = ""
            if not where and sys.platform not in ("darwin", "win32"):
                hint = " (no DISPLAY: is a desktop session running?)"
            raise NoTray(f"cannot show a tray icon with the {self.backend} backend: {exc}{hint}") from exc

        tolerate_missing_notification_service()
        with self._lock:
            if self._view is None:
                self._view = initial
            view = self._view
        if self.backend == "gtk":
            self._scale = gtk_scale_factor()
        icon = pystray.Icon("ferry", self._image(view.icon), self._title(view.title), menu=self._menu(view))
        self._shown = view
        log.debug("showing %s: %s [menu %s]", view.icon, view.status_line, view.digest)
        self._watch_size(icon)
        docking = None
        if self.backend == "xorg":
            listen_for_clicks(icon)
            docking = dock_once(icon)
        with self._lock:
            self._icon = icon

        def setup(ic: Any) -> None:
            # Views are pushed only once the icon is visible: pystray ignores an image set while `visible` is
            # being switched on (its setter draws the image it saw first and then marks the icon valid), so a
            # view shown in that window would never reach the screen. The `_apply` below catches up on any
            # view that arrived meanwhile.
            ic.visible = True
            with self._lock:
                self._live = True
            on_ready()
            ui_call(self._apply)
            if docking is not None:  # until the tray has the icon (backend_fixes.dock_once); a daemon thread: a
                # redraw waits for pystray's loop, and must not keep the process alive if that loop is gone
                threading.Thread(target=keep_docked, args=(docking, self._redraw, self._quitting),
                                 name="ferry-tray-dock", daemon=True).start()

        try:
            icon.run(setup=setup)
        except Exception:
            if not self._quitting.is_set():
                raise
            log.debug("icon loop ended with an error while quitting", exc_info=True)


    def _apply(self) -> None:
        """Push the latest view to the icon, under the lock so two threads cannot interleave stale updates."""
        with self._lock:
            view, shown, icon = self._view, self._shown, self._icon
            if icon is None or view is None or view == shown:
                return
            self._shown = view
            log.debug("showing %s: %s [menu %s]", view.icon, view.status_line, view.digest)
            if shown is None or view.icon != shown.icon:
                icon.icon = self._image(view.icon)
            icon.title = self._title(view.title)
            if shown is None or view.menu != shown.menu:
                icon.menu = self._menu(view)

    def _redraw(self) -> None:
        """Draw the icon again as it is (on pystray's loop, like any change of image)."""
        with self._lock:
            icon = self._icon
            if icon is not None and self._live and not self._quitting.is_set():
                icon.icon = icon.icon

    def _image(self, state: str) -> Any:
        """The icon drawn for the pixels it will cover: the tray's size times the screen's scale."""
        return render_icon(state, min(1024, self._size * self._scale), dark=self._dark)

    def _title(self, text: str) -> str:
        """The Xorg backend stores the tooltip as a Latin-1 WM_NAME: spell typographic characters plainly."""
        if self.backend != "xorg":
            return text
        plain = text.translate(_PLAIN)
        return plain.encode("latin-1", "replace").decode("latin-1")

    def _watch_size(self, icon: Any) -> None:
        """GTK's XEmbed icon says which size it is shown at: draw at exactly that size, never scaled."""
        status_icon = getattr(icon, "_status_icon", None)
        if status_icon is None or self._fixed_size:
            return

        def on_size(_widget: Any, size: int) -> bool:
            with self._lock:
                if size > 0 and size != self._size:
                    log.debug("the tray shows the icon at %d px (drawn at %d px)", size, size * self._scale)
                    self._size = size
                    state = self._shown.icon if self._shown else "offline"
                    icon.icon = self._image(state)
            return False  # let GTK show what it has until the redrawn image arrives

        status_icon.connect("size-changed", on_size)

    # --- menu model → pystray ---

    def _fire(self, command: Command, _icon: Any, _item: Any) -> None:
        self._on_command(command)

    def _menu(self, view: View) -> Any:
        import pystray

        return pystray.Menu(*(self._node(n) for n in view.menu))

    def _node(self, node: Node) -> Any:
        import pystray

        if isinstance(node, Separator):
            return pystray.Menu.SEPARATOR
        if isinstance(node, Submenu):
            return pystray.MenuItem(node.label, pystray.Menu(*(self._node(n) for n in node.items)))
        return self._item(node)

    def _item(self, item: Item) -> Any:
        import pystray

        action = functools.partial(self._fire, item.command) if item.command is not None else None
        checked = None if item.checked is None else functools.partial(_const, item.checked)
        return pystray.MenuItem(item.label, action, checked=checked, radio=item.radio, default=item.default,
                                enabled=item.active)


_PLAIN = str.maketrans({"—": "-", "…": "...", "“": '"', "”": '"', "·": "-", "↑": "^", "↓": "v"})


def _const(value: bool, _item: Any) -> bool:
    return value
