"""`ferry status [--watch]` and `ferry wait`: the commands that follow the daemon's status stream.

Both ride the subscription (the daemon pushes status at most ~10/s) rather than polling, so a watch costs
the daemon nothing while it is idle and shows a change as soon as it happens.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from typing import Any

from ferrysync.daemon.cli import EXIT_ATTENTION, EXIT_NOT_RUNNING, EXIT_TIMEOUT
from ferrysync.daemon.cli.commands import call, client, emit, emit_json
from ferrysync.daemon.cli.render import progress_line, status_lines
from ferrysync.daemon.ipc.client import DaemonNotRunning

CLEAR = "\x1b[H\x1b[2J"
HEARTBEAT = 1.0  # `ferry wait` re-asks wait_status at least this often, even without status events


def cmd_status(args: argparse.Namespace) -> int:
    if args.watch:
        return _watch(args)
    status = call("status")
    return emit_json(status) if args.json else emit(status_lines(status))


def _watch(args: argparse.Namespace) -> int:
    """Redraw on every status event; JSON mode prints one object per line (for scripts)."""
    tty = sys.stdout.isatty()
    with client().subscribe(["status"]) as sub:
        for event in sub:
            data = event.get("data") or {}
            if args.json:
                print(json.dumps(data, ensure_ascii=False, sort_keys=True), flush=True)
                continue
            text = "\n".join(status_lines(data))
            print(CLEAR + text if tty else text + "\n", flush=True)
    print("ferry: the daemon has stopped", file=sys.stderr)
    return EXIT_NOT_RUNNING


def attention_reason(status: Mapping[str, Any]) -> str | None:
    """Why waiting cannot end without the user, or None: paused, deletions held back, or a folder in error."""
    if status.get("paused") or status.get("state") == "paused":
        return "syncing is paused (run `ferry resume`)"
    if int(status.get("deletions_pending", 0) or 0):
        return "deletions are waiting for approval (see `ferry deletions list`)"
    if status.get("state") == "error":
        return f"the daemon reports an error: {status.get('message', '')} (see `ferry status`)"
    return None


def cmd_wait(args: argparse.Namespace) -> int:
    """0 once wait_status says synced and caught up; 4 on timeout; 5 when only the user can unblock it."""
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    tty = sys.stderr.isatty()
    baseline = 0
    with client() as c, c.subscribe(["status"]) as sub:
        while True:
            done = c.call("wait_status")
            if done.get("synced") and done.get("caught_up"):
                _end_progress(tty)
                return emit(["Everything is synced."])
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                _end_progress(tty)
                print(f"ferry: not synced after {args.timeout:g} s", file=sys.stderr)
                return EXIT_TIMEOUT
            try:
                event = sub.next_event(HEARTBEAT if remaining is None else min(HEARTBEAT, remaining))
            except DaemonNotRunning:
                _end_progress(tty)
                raise DaemonNotRunning("the daemon stopped before everything was synced") from None
            if event is None or event.get("event") != "status":
                continue
            status = event.get("data") or {}
            reason = attention_reason(status)
            if reason is not None:
                _end_progress(tty)
                print(f"ferry: cannot finish waiting: {reason}", file=sys.stderr)
                return EXIT_ATTENTION
            if tty:
                baseline = max(baseline, _pending_count(status))
                sys.stderr.write("\r\x1b[K" + progress_line(status, baseline))
                sys.stderr.flush()


def _pending_count(status: Mapping[str, Any]) -> int:
    up, down = status.get("pending_up") or {}, status.get("pending_down") or {}
    return int(up.get("count", 0) or 0) + int(down.get("count", 0) or 0)


def _end_progress(tty: bool) -> None:
    if tty:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()
