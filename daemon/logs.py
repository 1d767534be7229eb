"""Daemon logging: a size-rotated file under the log dir (plus stderr when run in a terminal).

Rotation keeps a long-running daemon's logs bounded without an external logrotate.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import sys

from ferrysync.daemon.atomic import private_opener
from ferrysync.daemon.paths import FerryPaths

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"
MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 5


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Log files are created 0600 whatever the umask: they name the user's files and folders."""

    def _open(self) -> io.TextIOWrapper:
        # always appends: RotatingFileHandler forces mode "a" once it rotates by size
        return open(self.baseFilename, "a", encoding=self.encoding, errors=self.errors, opener=private_opener)


def setup_logging(paths: FerryPaths, level: str = "INFO", *, stderr: bool | None = None) -> logging.Logger:
    """Configure the `ferrysync` logger tree once (idempotent: Ferry's handlers are replaced, not stacked)."""
    paths.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    logger = logging.getLogger("ferrysync")
    logger.setLevel(level.upper())
    for h in list(logger.handlers):
        if getattr(h, "_ferry", False):
            logger.removeHandler(h)
            h.close()
    formatter = logging.Formatter(FORMAT)
    file_handler = PrivateRotatingFileHandler(
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
