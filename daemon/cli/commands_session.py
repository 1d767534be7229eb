"""Hooks for the commands the engine owns: sign-in, quick setup, starting the daemon, autostart.

The argparse entries live in parser.py; the work is done by `ferrysync.daemon.cli.session` and
`ferrysync.daemon.autostart`, imported only when one of these commands runs (they pull in requests, keyring…).
Each receives the argparse Namespace and returns an exit code (None counts as success).
"""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType

from ferrysync.daemon.cli import EXIT_ERROR, EXIT_OK


def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"ferrysync.daemon.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"ferrysync.daemon.{name}":
            raise  # the module exists but something it needs is missing: show that, it is a real fault
        print(f"ferry: this installation has no ferrysync.daemon.{name} module")
        return None


def _run(module: str, func: str, args: argparse.Namespace) -> int:
    mod = _module(module)
    if mod is None:
        return EXIT_ERROR
    code = getattr(mod, func)(args)
    return EXIT_OK if code is None else int(code)


def cmd_login(args: argparse.Namespace) -> int:
    return _run("cli.session", "login", args)


def cmd_logout(args: argparse.Namespace) -> int:
    return _run("cli.session", "logout", args)


def cmd_up(args: argparse.Namespace) -> int:
    return _run("cli.session", "up", args)


def cmd_start(args: argparse.Namespace) -> int:
    return _run("cli.session", "start", args)


def cmd_autostart(args: argparse.Namespace) -> int:
    return _run("autostart", "cli", args)
