"""Workarounds for pystray 0.19 backends, each for a problem seen on real desktops (and tested under Xvfb).

Kept apart from `ui.py` because they reach into pystray's private attributes; each one checks that the
attribute exists and otherwise leaves pystray alone.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
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


DOCK_CHECK_S = 5.0  # how long a dock request has to take effect before the icon asks again (a tray under load is slow)


class Docking:
    """Whether the icon is in the tray, as `dock_once` last saw it (on pystray's loop)."""

    def __init__(self) -> None:
        self.confirmed = False  # the icon's window was seen embedded in the tray
        self.asked_at = -math.inf  # when it last asked to be docked (time.monotonic)


def dock_once(icon: Any, embedded: Callable[[], bool] | None = None,
              check_s: float = DOCK_CHECK_S) -> Docking | None:
    """pystray 0.19's Xorg backend asks the tray to dock its window on every redraw (twice when it is first
    shown). Trays without a duplicate check, trayer among them, answer each request with a fresh socket and
    move the window into it; under load the window now and then ended in no socket at all, the icon gone from
    the panel while the tray app ran on. Ask once per tray manager: pystray forgets the manager when it is
    destroyed or the icon is hidden, and then docks again as before.

    But a request can also come to nothing: a tray that has taken the tray selection and is not ready yet (a
    panel still starting, at login or under load) drops it, and nothing asked again. So a redraw asks again
    when the window is still not in the tray `check_s` after the last request; `keep_docked` redraws until it is
    (`embedded`: whether the window is in the tray; by default, whether its parent is not the root window)."""
    original = getattr(icon, "_assert_docked", None)
    if original is None or not hasattr(icon, "_systray_manager"):
        return None
    if embedded is None:
        window, display = getattr(icon, "_window", None), getattr(icon, "_display", None)
        if window is None or display is None:
            return None

        def embedded() -> bool:
            try:
                return bool(window.query_tree().parent.id != display.screen().root.id)
            except Exception:  # noqa: BLE001 - Xlib's errors: the window is going away, nothing to dock
                return True

    seen = embedded
    docking = Docking()

    def assert_docked() -> None:
        now = time.monotonic()
        if icon._systray_manager is not None:
            if now - docking.asked_at < check_s:
                return
            docking.confirmed = seen()
            if docking.confirmed:
                return
        docking.asked_at = now
        original()

    icon._assert_docked = assert_docked
    return docking


def keep_docked(docking: Docking, redraw: Callable[[], None], stop: threading.Event,
                check_s: float = DOCK_CHECK_S) -> None:
    """Redraw the icon every `check_s` (each redraw checks, and asks again: `dock_once`) until it is seen in the
    tray or `stop` is set; then nothing more runs, so an idle tray app stays idle."""
    while not docking.confirmed and not stop.wait(check_s):
        try:
            redraw()
        except Exception:
            log.debug("redrawing the icon to check its dock failed", exc_info=True)
            return


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
