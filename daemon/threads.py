"""The daemon's long-lived threads, started so that none can end unnoticed.

A sync folder's work runs on a handful of loops (planning, change feed, indexing, watching). Each catches what
it expects, but an exception it did not expect ends its thread while the process and its control socket live on:
the folder then stops syncing, its last status ("Up to date") stays on screen, and Python writes the traceback to
stderr, which a detached daemon sends nowhere a user looks. Threads started here remember why they ended, so the
engine can show the reason in its status, and the exception still reaches `threading.excepthook`, which the
daemon's entry point routes to its log (see `main.install_crash_hooks`).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable

_deaths: weakref.WeakKeyDictionary[threading.Thread, str] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def start(target: Callable[[], None], name: str) -> threading.Thread:
    """Run `target` on a new daemon thread whose unexpected end `death()` reports."""
    thread = threading.Thread(target=_run, args=(target,), name=name, daemon=True)
    thread.start()
    return thread


def _run(target: Callable[[], None]) -> None:
    try:
        target()
    except BaseException as exc:
        with _lock:
            _deaths[threading.current_thread()] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise  # threading.excepthook logs it, with its traceback


def death(thread: threading.Thread | None) -> str | None:
    """Why `thread` is no longer running, or None while it runs (or was never started).

    Only meaningful for a thread that should still run: the caller asks only while it has not stopped it."""
    if thread is None or thread.is_alive() or thread.ident is None:
        return None
    with _lock:
        return _deaths.get(thread, "it ended without an error")
