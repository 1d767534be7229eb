"""ferryd: the sync daemon in the foreground (for service managers, `ferry start` and `ferry up`).

Start-up order matters: the lock first (one daemon per FERRY_HOME), then the journal, then the control channel
(so `ferry status` answers while the first scan runs), then the engine. SIGTERM/SIGINT and the `stop` request
shut down gracefully: transfers stop between blocks and resume at the next start.

A daemon that cannot go on says why before it goes: every way out of `main` other than a requested stop is logged
at ERROR or CRITICAL (with the traceback when there is one), repeated on stderr and ends with a non-zero exit
code; an exception that escapes any thread is logged with its traceback instead of only reaching stderr, which
a detached daemon sends to a file nobody reads. Without that, a daemon that died after its control channel had
answered left a log whose last line said it was running.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import TYPE_CHECKING

from ferrysync.daemon import __version__
from ferrysync.daemon.paths import FerryPaths, ferry_paths

if TYPE_CHECKING:
    from ferrysync.daemon.config import Config
    from ferrysync.daemon.journal import Journal
    from ferrysync.daemon.notify import Notifier

log = logging.getLogger("ferrysync.daemon")
STOP_TIMEOUT_S = 30.0  # how long the engine's threads get to finish what they are doing at shutdown

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_NOT_CONFIGURED = 3

HEALTH_CHECK_S = 5.0  # how often the main thread checks that the control channel still serves


def install_crash_hooks() -> None:
    """Route uncaught exceptions of the main thread and of every other thread to the daemon's log."""

    def main_hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        log.critical("ferryd stops: uncaught exception in the main thread", exc_info=(exc_type, exc, tb))
        sys.__excepthook__(exc_type, exc, tb)

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        log.critical("thread %s stopped on an unexpected error; the work it did has stopped", name,
                     exc_info=(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback))

    sys.excepthook = main_hook
    threading.excepthook = thread_hook


def _leave(code: int, reason: str, *, crash: bool = False) -> int:
    """Say why the daemon exits, in its log and on stderr, and return its exit code."""
    if crash:
        log.critical("ferryd exits with code %d: %s", code, reason, exc_info=True)
    else:
        log.error("ferryd exits with code %d: %s", code, reason)
    print(f"ferryd: {reason}", file=sys.stderr, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ferryd", description="Ferry's sync daemon, in the foreground.")
    parser.add_argument("--version", action="version", version=f"ferryd {__version__}")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING (default: from the config)")
    args = parser.parse_args(argv)

    from ferrysync.daemon.logs import setup_logging

    try:
        paths = ferry_paths().ensure()
        setup_logging(paths, args.log_level or "INFO")  # before the config: a broken config is logged too
    except OSError as exc:
        print(f"ferryd: cannot prepare the daemon's directories: {exc}", file=sys.stderr)
        return EXIT_ERROR
    install_crash_hooks()
    try:
        for change in paths.tighten():
            log.warning("narrowed the permissions of %s: it was readable by other users of this machine, and "
                        "Ferry's files hold your device's secrets and the names of your files", change)
    except OSError as exc:
        log.error("could not make Ferry's files private to you: %s", exc)
    try:
        return _serve(paths, args.log_level)
    except KeyboardInterrupt:
        return _leave(EXIT_ERROR, "interrupted while starting")
    except Exception as exc:  # noqa: BLE001 - the daemon's outermost frame: any error is logged as a crash
        return _leave(EXIT_ERROR, f"stopped by an unexpected error: {type(exc).__name__}: {exc}", crash=True)


def _serve(paths: FerryPaths, log_level: str | None) -> int:
    from ferrysync.daemon.config import ConfigError, load_config
    from ferrysync.daemon.credentials import CredentialsError, open_store
    from ferrysync.daemon.lock import DaemonAlreadyRunning, DaemonLock
    from ferrysync.daemon.logs import setup_logging

    try:
        config = load_config(paths)
    except ConfigError as exc:
        return _leave(EXIT_ERROR, str(exc))
    setup_logging(paths, log_level or config.settings.log_level)
    if not config.server_url or not config.user:
        return _leave(EXIT_NOT_CONFIGURED, "no server configured: run `ferry up` (local cloud) or "
                      "`ferry login URL --user NAME`")
    try:
        token = open_store(config.settings.credentials_store, paths).get_token(config.user, config.server_url)
    except CredentialsError as exc:
        return _leave(EXIT_ERROR, str(exc))
    if not token:
        return _leave(EXIT_NOT_CONFIGURED, f"this device is not logged in to {config.server_url}: run `ferry login`")

    from ferrysync.daemon.local.fsio import raise_open_file_limit

    raise_open_file_limit()  # room for a batch of small downloads' open files (fsio.Unnamed)
    lock = DaemonLock(paths.lock_file)
    try:
        lock.acquire()
    except DaemonAlreadyRunning as exc:
        return _leave(EXIT_ERROR, str(exc))
    try:
        return _run_locked(paths, config, token)
    finally:
        lock.release()


def _run_locked(paths: FerryPaths, config: Config, token: str) -> int:
    from ferrysync.daemon import embedded
    from ferrysync.daemon.journal import JournalError, open_journal
    from ferrysync.daemon.notify import Notifier

    cloud = None
    if config.settings.embedded:
        from urllib.parse import urlsplit

        try:
            cloud = embedded.start_server(paths, urlsplit(config.server_url).port or 8765)
        except (RuntimeError, OSError) as exc:
            return _leave(EXIT_ERROR, f"the local cloud did not start: {exc}")
    try:
        try:
            journal = open_journal(paths)
        except JournalError as exc:
            return _leave(EXIT_ERROR, "; ".join([str(exc), *paths.full_disks()]))
        try:
            if journal.needs_rebuild:
                # The fresh journal starts empty: the start-up scan refills the local tree, the feed restarts at
                # cursor 0, and with no merge base the planner merges both sides (nothing is deleted). The engine
                # clears the flag.
                log.warning("the journal was unreadable and was set aside: rebuilding from the disk and the server")
            notifier = Notifier()
            try:
                return _run_engine(paths, config, journal, token, notifier)
            finally:
                notifier.close()
        finally:
            journal.close()
    finally:
        if cloud is not None:
            embedded.stop_server(cloud)


def _run_engine(paths: FerryPaths, config: Config, journal: Journal, token: str, notifier: Notifier) -> int:
    from ferrysync.daemon import sdnotify
    from ferrysync.daemon.control.handlers import handlers
    from ferrysync.daemon.engine import Engine
    from ferrysync.daemon.ipc.server import ControlServer, DaemonAlreadyRunning
    from ferrysync.daemon.webui import WebUI

    def notify(title: str, body: str, kind: str) -> None:
        notifier.notify(title, body, kind)

    engine = Engine(paths, config, journal, token, notify=notify)
    notifier.enabled = lambda: engine.config.settings.notifications
    control = ControlServer(paths, handlers(engine), engine.status)
    webui = WebUI(control)  # listens only once asked for (`ferry open`, the tray's Preferences…)
    control.handlers["ui_url"] = webui.handler
    engine.publish = control.publish
    control.stopping = engine.stop_requested.is_set
    started = threading.Event()
    control.starting = lambda: not started.is_set()
    try:
        control.start()
    except DaemonAlreadyRunning as exc:
        return _leave(EXIT_ERROR, str(exc))

    signals: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        signals.append(signum)  # logged by the main loop: a handler must not take the logging lock
        engine.stop_requested.set()

    # SIGHUP too: a daemon run from a terminal that closes would otherwise end without a word in its log
    for sig in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            signal.signal(sig, on_signal)
    code = EXIT_OK
    try:
        engine.start()
        started.set()
        log.info("ferryd %s running for %s on %s (%d folders)", __version__, config.user, config.server_url,
                 len(config.folders))
        sdnotify.ready(f"syncing {len(config.folders)} folders")
        watchdog = sdnotify.watchdog_interval()
        tick = min(watchdog / 2, HEALTH_CHECK_S) if watchdog else HEALTH_CHECK_S
        while not engine.stop_requested.wait(tick):
            broken = control.failure()
            if broken is not None:
                # Nobody can reach a daemon whose control channel is gone: exit loudly so that a service manager
                # (or the user's next `ferry start`) starts a working one, instead of syncing on unseen.
                code = _leave(EXIT_ERROR, f"the control channel stopped ({broken}); shutting down")
                break
            sdnotify.watchdog()
        else:
            log.info("stopping (%s)", signal.Signals(signals[0]).name if signals else "asked to stop")
    finally:
        engine.stop_requested.set()
        sdnotify.stopping()
        joined: list[bool] = []
        stopper = threading.Thread(target=lambda: joined.append(engine.stop(STOP_TIMEOUT_S)), name="ferry-stop",
                                   daemon=True)
        stopper.start()
        stopper.join(STOP_TIMEOUT_S + 5)
        webui.stop()
        control.stop()
        if joined != [True]:
            # The journal closes after the transaction in flight (it holds the writer's lock), and refuses what
            # comes later: for a thread still running, that is the same as a kill -9, which the trees survive.
            log.error("some of the engine's threads did not stop within %.0f s; closing the journal under them "
                      "(what they did not record is found again at the next start)", STOP_TIMEOUT_S)
    return code


if __name__ == "__main__":
    sys.exit(main())
