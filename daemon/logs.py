"""Daemon logging: a size-rotated file under the log dir (plus stderr when run in a terminal).

Rotation keeps a long-running daemon's logs bounded without an external logrotate.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys

from ferrysync.daemon.paths import FerryPaths

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"
MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 5


def setup_logging(paths: FerryPaths, level: str = "INFO", *, stderr: bool | None = None) -> logging.Logger:
    """Configure the `ferrysync` logger tree once (idempotent: Ferry's handlers are replaced, not stacked)."""
    paths.log_dir.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("ferrysync")
    logger.setLevel(level.upper())
    for h in list(logger.handlers):
        if getattr(h, "_ferry", False):
            logger.removeHandler(h)
            h.close()
    formatter = logging.Formatter(FORMAT)
    file_handler = logging.handlers.RotatingFileHandler(
        paths.log_file, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
    )
    handlers: list[logging.Handler] = [file_handler]
    if stderr if stderr is not None else sys.stderr.isatty():
        handlers.append(logging.StreamHandler(sys.stderr))
    for h in handlers:
        h.setFormatter(formatter)
        h._ferry = True  # type: ignore[attr-defined]
        logger.addHandler(h)
    logger.propagate = False
    return logger
