"""The tray's brain: follows the daemon, keeps a Snapshot, runs menu commands off the UI thread.

Threads, and why each exists:
- `ferry-tray-events`: holds the `subscribe` connection; each status event updates the snapshot at once.
  When the daemon goes away it marks the tray disconnected and reconnects with capped exponential backoff
  (woken early by "Start Ferry").
- `ferry-tray-details`: fetches what status events only count (recent changes, conflicts, deletions,
  settings), coalescing bursts of events; it also re-renders once a second while the offline countdown runs.
- a small pool for menu commands, so no IPC call or folder picker ever blocks the UI loop.
The presenter (`tray/ui.py`) receives finished `View`s and marshals them onto the UI thread itself.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from ferrysync.daemon.ipc.client import DaemonNotRunning, IpcError
from ferrysync.tray.view import Command, Snapshot, View, build_view

log = logging.getLogger("ferrysync.tray")

DETAIL_INTERVAL = 1.0  # s between detail refreshes during a burst of status events
START_TIMEOUT = 30.0  # s to wait for a daemon we started before saying it did not come up


class EventStream(Protocol):
    """What the tray needs of `ferrysync.daemon.ipc.client.Subscription`: events, and a way to stop them."""

    def __iter__(self) -> Any: ...
    def close(self) -> None: ...


class Client(Protocol):
    """What the tray needs of `ferrysync.daemon.ipc.client.ControlClient`."""

    def call(self, method: str, **params: Any) -> dict[str, Any]: ...
    def subscribe(self, events: Sequence[str] | None = None) -> EventStream: ...


class Presenter(Protocol):
    def show(self, view: View) -> None: ...
    def quit(self) -> None: ...


class Desktop(Protocol):
    """Side effects on the user's desktop (`tray/desktop.py`); faked in unit tests."""

    def open_path(self, path: str) -> None: ...
    def open_url(self, url: str) -> None: ...
    def pick_folder(self) -> str | None: ...
    def spawn(self, argv: Sequence[str]) -> None: ...


class Backoff:
    """0.5 s, 1 s, 2 s … capped: quick to notice a restarted daemon, cheap while it stays away."""

    def __init__(self, first: float = 0.5, cap: float = 8.0) -> None:
        self.first, self.cap = first, cap
        self._next = first

    def next(self) -> float:
        delay = self._next
        self._next = min(self.cap, self._next * 2)
        return delay

    def reset(self) -> None:
        self._next = self.first


class Controller:
    def __init__(self, client: Client, presenter: Presenter, desktop: Desktop, *,
                 daemon_command: Sequence[str], log_file: Path, clock: Callable[[], float] = time.time,
                 backoff: Backoff | None = None, click_opens_preferences: bool = False) -> None:
        self._client = client
        self._click_opens_preferences = click_opens_preferences
        self._presenter = presenter
        self._desktop = desktop
        self._daemon_command = list(daemon_command)
        self._log_file = log_file
        self._clock = clock
        self._backoff = backoff or Backoff()
        self._lock = threading.Lock()
        self._snapshot = Snapshot()
        self._render_lock = threading.Lock()
        self._started_at: float | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()  # cuts a reconnect backoff short
        self._details_due = threading.Event()
        self._subscription: EventStream | None = None
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ferry-tray-cmd")
        self._threads = [
            threading.Thread(target=self._follow_events, name="ferry-tray-events", daemon=True),
            threading.Thread(target=self._refresh_details, name="ferry-tray-details", daemon=True),
        ]

    # --- lifecycle ---

    def start(self) -> None:
        self._render()
        for t in self._threads:
            t.start()

    def stop(self, wait: bool = False) -> None:
        """Ends the background threads (the subscription is closed to unblock its reader); `wait` lets running
        commands finish first."""
        self._stopping.set()
        self._wake.set()
        self._details_due.set()
        with self._lock:
            sub = self._subscription
        if sub is not None:
            sub.close()
        self._pool.shutdown(wait=wait, cancel_futures=not wait)

    @property
    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot

    def view(self) -> View:
        return build_view(self.snapshot, self._clock(), click_opens_preferences=self._click_opens_preferences)

    # --- state ---

    def _update(self, **changes: Any) -> None:
        with self._lock:
            self._snapshot = replace(self._snapshot, **changes)
        self._render()

    def _render(self) -> None:
        """Serialised, so a view computed from an older snapshot is never shown after a newer one."""
        with self._render_lock:
            if not self._stopping.is_set():
                self._presenter.show(self.view())

    # --- the event stream ---

    def _follow_events(self) -> None:
        while not self._stopping.is_set():
            try:
                sub = self._client.subscribe(["status"])
            except (IpcError, OSError) as exc:
                self._disconnected(exc)
                continue
            with self._lock:
                self._subscription = sub
            self._backoff.reset()
            try:
                self._consume(sub)
            except (IpcError, OSError) as exc:
                log.info("event stream ended: %s", exc)
            finally:
                with self._lock:
                    self._subscription = None
                sub.close()
            if not self._stopping.is_set():
                self._disconnected(DaemonNotRunning("the daemon closed the connection"))

    def _consume(self, events: Iterable[Mapping[str, Any]]) -> None:
        for event in events:
            if self._stopping.is_set():
                return
            data = event.get("data")
            if event.get("event") == "status" and isinstance(data, Mapping):
                self._update(connected=True, status=dict(data), status_time=self._clock(), starting=False)
                self._details_due.set()

    def _disconnected(self, exc: BaseException) -> None:
        snap = self.snapshot
        starting = snap.starting
        notice = snap.notice
        if starting and self._started_at is not None and time.monotonic() - self._started_at > START_TIMEOUT:
            starting, notice = False, f"Ferry did not start within {START_TIMEOUT:.0f} s — see the log"
        if isinstance(exc, IpcError) and not isinstance(exc, DaemonNotRunning):
            notice = f"Cannot reach Ferry: {exc.message}"  # e.g. a socket of another user: say so, keep trying
        if snap.connected or snap.status is not None or starting != snap.starting or notice != snap.notice:
            log.info("daemon unavailable: %s", exc)
            self._update(connected=False, status=None, starting=starting, notice=notice,
                         activity=(), conflicts=(), deletions=(), settings=None)
        self._wake.wait(self._backoff.next())
        self._wake.clear()

    # --- details that status events only count ---

    def _refresh_details(self) -> None:
        last_fetch = -DETAIL_INTERVAL
        while not self._stopping.is_set():
            if self._details_due.is_set() and time.monotonic() - last_fetch >= DETAIL_INTERVAL:
                self._details_due.clear()
                last_fetch = time.monotonic()
                self._fetch_details()
                continue
            tick = self._next_tick()
            if self._details_due.is_set():  # due, but a fetch ran less than DETAIL_INTERVAL ago
                pause = last_fetch + DETAIL_INTERVAL - time.monotonic()
                self._stopping.wait(max(0.0, pause if tick is None else min(pause, tick)))
            else:
                self._details_due.wait(tick)
            if tick is not None:
                self._render()  # the offline countdown moves on (unchanged views are dropped by the UI)

    def _next_tick(self) -> float | None:
        """Seconds until the offline countdown's whole-second label changes; None when nothing counts down."""
        snap = self.snapshot
        status = snap.status
        retry_in = status.get("retry_in") if status is not None else None
        if status is None or status.get("state") != "offline" or not isinstance(retry_in, int | float):
            return None
        remaining = float(retry_in) - (self._clock() - snap.status_time)
        if remaining <= 0:
            return None
        return remaining - math.floor(remaining) + 0.02

    def _fetch_details(self) -> None:
        """Each list on its own: a daemon that lacks one method (older version) still fills the others."""
        status = self.snapshot.status
        if status is None:
            return
        wanted: list[tuple[str, str, str, dict[str, Any], bool]] = [
            ("activity", "activity", "activity", {"limit": 50}, True),
            ("settings", "settings_get", "settings", {}, True),
            ("conflicts", "conflicts", "conflicts", {}, bool(status.get("conflicts"))),
            ("deletions", "deletions", "pending", {}, bool(status.get("deletions_pending"))),
        ]
        changes: dict[str, Any] = {}
        for field, method, key, params, needed in wanted:
            if not needed:
                changes[field] = ()
                continue
            try:
                value = self._client.call(method, **params).get(key)
            except DaemonNotRunning:
                return  # the event thread notices and says so
            except (IpcError, OSError) as exc:
                log.info("could not fetch %s: %s", field, exc)
                continue
            if field == "settings":
                changes[field] = dict(value) if isinstance(value, Mapping) else None
            else:
                changes[field] = tuple(v for v in value if isinstance(v, Mapping)) if isinstance(value, list) else ()
        if changes and self.snapshot.connected:
            self._update(**changes)

    # --- commands from the menu ---

    def dispatch(self, command: Command) -> None:
        """Called on the UI thread: queue the command and return at once."""
        if self._stopping.is_set():
            return
        if command.name == "quit_tray":
            self.quit()
            return
        with contextlib.suppress(RuntimeError):  # the pool is shut down: the tray is quitting
            self._pool.submit(self._run_command, command)

    def quit(self) -> None:
        self.stop()
        self._presenter.quit()

    def _run_command(self, command: Command) -> None:
        try:
            self._execute(command)
        except DaemonNotRunning:
            self._update(notice="Ferry is not running")
        except IpcError as exc:
            self._update(notice=f"Could not {_verb(command)}: {exc.message}")
        except OSError as exc:
            self._update(notice=f"Could not {_verb(command)}: {exc.strerror or exc}")
        except Exception:  # a bug must not kill the worker silently
            log.exception("command %s failed", command)
            self._update(notice=f"Could not {_verb(command)} (see the log)")
        else:
            if self.snapshot.notice:
                self._update(notice=None)

    def _execute(self, command: Command) -> None:
        name, args = command.name, command.args
        if name in ("pause", "resume"):
            self._client.call(name, **({"folder": args[0]} if args else {}))
        elif name == "open_path":
            self._desktop.open_path(str(args[0]))
        elif name == "preferences":
            # a one-time address minted by the daemon over the control socket (docs/ipc.md, `ui_url`)
            self._desktop.open_url(str(self._client.call("ui_url")["url"]))
        elif name == "open_log":
            if not self._log_file.exists():
                raise OSError(f"no log yet at {self._log_file}")
            self._desktop.open_path(str(self._log_file))
        elif name == "settings_set":
            result = self._client.call("settings_set", key=args[0], value=args[1])
            if isinstance(result.get("settings"), Mapping):
                self._update(settings=dict(result["settings"]))
        elif name in ("deletions_approve", "deletions_reject"):
            self._client.call(name, **({"folder_id": args[0]} if args else {}))
            self._details_due.set()
        elif name == "add_folder":
            folder = self._desktop.pick_folder()
            if folder:
                self._client.call("folder_add", local=folder)
        elif name == "remove_folder":
            self._client.call("folder_remove", id=args[0])
        elif name == "start_daemon":
            self._start_daemon()
        elif name == "quit_ferry":
            self._client.call("stop")
            self.quit()
        else:
            raise ValueError(f"unknown command {name!r}")

    def _start_daemon(self) -> None:
        if self.snapshot.connected:
            return
        self._started_at = time.monotonic()
        self._update(starting=True, notice=None)
        try:
            self._desktop.spawn(self._daemon_command)
        except OSError:
            self._update(starting=False)
            raise
        self._backoff.reset()
        self._wake.set()


def _verb(command: Command) -> str:
    return {
        "pause": "pause", "resume": "resume", "open_path": "open it", "open_log": "open the log",
        "preferences": "open the settings window",
        "settings_set": "change the setting", "deletions_approve": "approve the deletions",
        "deletions_reject": "keep the files", "add_folder": "add the folder",
        "remove_folder": "remove the folder",
        "start_daemon": "start Ferry", "quit_ferry": "stop Ferry",
    }.get(command.name, command.name)
