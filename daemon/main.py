"""ferryd: the sync daemon in the foreground (for service managers, `ferry start` and `ferry up`).

Start-up order matters: the lock first (one daemon per FERRY_HOME), then the journal, then the control channel
(so `ferry status` answers while the first scan runs), then the engine. SIGTERM/SIGINT and the `stop` request
shut down gracefully: transfers stop between blocks and resume at the next start.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from ferrysync.daemon import __version__
from ferrysync.daemon.paths import ferry_paths

log = logging.getLogger("ferrysync.daemon")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_NOT_CONFIGURED = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ferryd", description="Ferry's sync daemon, in the foreground.")
    parser.add_argument("--version", action="version", version=f"ferryd {__version__}")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING (default: from the config)")
    args = parser.parse_args(argv)

    from ferrysync.daemon import sdnotify
    from ferrysync.daemon.config import ConfigError, load_config
    from ferrysync.daemon.credentials import CredentialsError, open_store
    from ferrysync.daemon.ipc.server import ControlServer, DaemonAlreadyRunning
    from ferrysync.daemon.journal import open_journal
    from ferrysync.daemon.lock import AlreadyRunning, DaemonLock
    from ferrysync.daemon.logs import setup_logging

    paths = ferry_paths().ensure()
    try:
        config = load_config(paths)
    except ConfigError as exc:
        print(f"ferryd: {exc}", file=sys.stderr)
        return EXIT_ERROR
    setup_logging(paths, args.log_level or config.settings.log_level)
    if not config.server_url or not config.user:
        print("ferryd: no server configured: run `ferry up` (local cloud) or `ferry login URL --user NAME`",
              file=sys.stderr)
        return EXIT_NOT_CONFIGURED
    try:
        token = open_store(config.settings.credentials_store, paths).get_token(config.user, config.server_url)
    except CredentialsError as exc:
        print(f"ferryd: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if not token:
        print(f"ferryd: this device is not logged in to {config.server_url}: run `ferry login`", file=sys.stderr)
        return EXIT_NOT_CONFIGURED

    lock = DaemonLock(paths.lock_file)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        print(f"ferryd: {exc}", file=sys.stderr)
        return EXIT_ERROR

    from ferrysync.daemon.engine import Engine
    from ferrysync.daemon.engine.control import handlers
    from ferrysync.daemon.notify import Notifier

    cloud = None
    if config.settings.embedded:
        from urllib.parse import urlsplit

        from ferrysync.daemon import embedded

        try:
            cloud = embedded.start_server(paths, urlsplit(config.server_url).port or 8765)
        except (RuntimeError, OSError) as exc:
            print(f"ferryd: {exc}", file=sys.stderr)
            lock.release()
            return EXIT_ERROR
    journal = open_journal(paths)
    if journal.needs_rebuild:
        # The fresh journal starts empty: the start-up scan refills the local tree, the feed restarts at cursor 0,
        # and with no merge base the planner merges both sides (nothing is deleted). The engine clears the flag.
        log.warning("the journal was unreadable and was set aside: rebuilding from the disk and the server")
    notifier = Notifier()

    def notify(title: str, body: str, kind: str) -> None:
        notifier.notify(title, body, kind)

    engine = Engine(paths, config, journal, token, notify=notify)
    notifier.enabled = lambda: engine.config.settings.notifications
    control = ControlServer(paths, handlers(engine), engine.status)
    engine.publish = control.publish
    try:
        control.start()
    except DaemonAlreadyRunning as exc:
        print(f"ferryd: {exc}", file=sys.stderr)
        lock.release()
        return EXIT_ERROR

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        engine.stop_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    engine.start()
    log.info("ferryd %s running for %s on %s (%d folders)", __version__, config.user, config.server_url,
             len(config.folders))
    sdnotify.ready(f"syncing {len(config.folders)} folders")
    watchdog = sdnotify.watchdog_interval()
    while not engine.stop_requested.wait(watchdog / 2 if watchdog else 3600):
        sdnotify.watchdog()
    log.info("stopping")
    sdnotify.stopping()
    stopper = threading.Thread(target=engine.stop, daemon=True)
    stopper.start()
    stopper.join(30)
    control.stop()
    notifier.close()
    journal.close()
    if cloud is not None:
        embedded.stop_server(cloud)
    lock.release()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
