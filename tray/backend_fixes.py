"""Workarounds for pystray 0.19 backends, each for a problem seen on real desktops (and tested under Xvfb).

Kept apart from `ui.py` because they reach into pystray's private attributes; each one checks that the
attribute exists and otherwise leaves pystray alone.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("ferrysync.tray")


def tolerate_missing_notification_service() -> None:
    """pystray's GTK backends call org.freedesktop.Notifications when they stop; without that service the
    call raises and `Icon.run()`/`stop()` fail. The tray sends no notifications through pystray, so errors
    there are logged and ignored."""
    try:
        from pystray._util import notify_dbus
    except (ImportError, ValueError):  # not a GTK backend (no gi, or no GTK namespace)
        return
    original = notify_dbus.Notifier
    if getattr(original, "_ferry_tolerant", False):
        return

    class TolerantNotifier:
        _ferry_tolerant = True

        def __init__(self) -> None:
            try:
                self._inner: Any = original()
            except Exception as exc:  # noqa: BLE001 - GLib.Error, which needs gi; must not stop the icon
                log.debug("no notification service: %s", exc)
                self._inner = None

        def notify(self, title: str, message: str, icon: str) -> None:
            if self._inner is not None:
                try:
                    self._inner.notify(title, message, icon)
                except Exception as exc:  # noqa: BLE001 - as above: D-Bus errors are GLib.Error
                    log.debug("notification failed: %s", exc)

        def hide(self) -> None:
            if self._inner is not None:
                try:
                    self._inner.hide()
                except Exception as exc:  # noqa: BLE001 - as above: D-Bus errors are GLib.Error
                    log.debug("hiding the notification failed: %s", exc)

    notify_dbus.Notifier = TolerantNotifier


def listen_for_clicks(icon: Any) -> None:
    """pystray 0.19's Xorg backend handles ButtonPress but never selects it on its window, so clicks are lost
    (pystray issue #151). Add ButtonPressMask before the loop starts (the display is not shared yet)."""
    window, display = getattr(icon, "_window", None), getattr(icon, "_display", None)
    if window is None or display is None:
        return
    from Xlib import X

    window.change_attributes(event_mask=X.ExposureMask | X.StructureNotifyMask | X.ButtonPressMask)
    display.flush()


def dock_once(icon: Any) -> None:
    """pystray 0.19's Xorg backend asks the tray to dock its window on every redraw (twice when it is first
    shown). Trays without a duplicate check, trayer among them, answer each request with a fresh socket and
    move the window into it; under load the window now and then ended in no socket at all, the icon gone from
    the panel while the tray app ran on. Ask once per tray manager: pystray forgets the manager when it is
    destroyed or the icon is hidden, and then docks again as before."""
    original = getattr(icon, "_assert_docked", None)
    if original is None or not hasattr(icon, "_systray_manager"):
        return

    def assert_docked() -> None:
        if icon._systray_manager is None:
            original()

    icon._assert_docked = assert_docked


def gtk_scale_factor() -> int:
    """The display's scale factor (2 on most HiDPI screens), 1 when GTK cannot say. GtkStatusIcon reports its
    size in logical pixels but shows a larger image at device resolution, so the tray draws size × scale."""
    try:
        import gi

        gi.require_version("Gdk", "3.0")
        from gi.repository import Gdk

        display = Gdk.Display.get_default()
        if display is None:
            return 1
        monitor = display.get_primary_monitor() or display.get_monitor(0)
        return max(1, int(monitor.get_scale_factor())) if monitor is not None else 1
    except (ImportError, ValueError):  # no gi, or no Gdk 3.0 namespace
        return 1
