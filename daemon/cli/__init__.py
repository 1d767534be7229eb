"""`ferry`: the command line for the sync daemon (docs/cli.md).

Start-up stays fast: this module imports argparse and the parser only; a subcommand's module (and whatever
it needs) is imported when that subcommand runs, so `ferry --version` and `ferry status` skip the engine.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3
EXIT_TIMEOUT = 4
EXIT_ATTENTION = 5


class UsageError(Exception):
    """A command's arguments are wrong in a way argparse cannot see (exit 2)."""


def _resolve(run: str) -> Callable[..., int]:
    module, func = run.split(":")
    fn: Callable[..., int] = getattr(importlib.import_module(f"{__name__}.{module}"), func)
    return fn


def _error(message: str) -> None:
    print(f"ferry: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")  # a daemon message never crashes a cp1252 console
    from ferrysync.daemon.cli.parser import build_parser

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (argparse already printed it)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    from ferrysync.daemon.ipc.client import DaemonNotRunning, IpcError, IpcTimeout

    try:
        return _resolve(args.run)(args)
    except UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except DaemonNotRunning as exc:
        _error(exc.message)
        return EXIT_NOT_RUNNING
    except IpcTimeout as exc:
        _error(f"{exc.message} (the daemon may be busy; try again)")
        return EXIT_ERROR
    except IpcError as exc:
        _error(exc.message if exc.code in ("failed", "not_found") else f"{exc.message} ({exc.code})")
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `ferry activity | head`
        return EXIT_OK
