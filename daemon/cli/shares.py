"""`ferry share PATH`, `ferry shares`, `ferry unshare ID`: share links, through the daemon (which holds the
device token and knows which server path a local file is).

PATH is a file or folder inside a synced folder; anything else is taken as a path in the cloud (`/Docs/a.pdf`).
The link's URL is printed alone on standard output (for scripts: `url=$(ferry share x.pdf)`); the server shows
it this once (it keeps only a hash of the link's secret), so `ferry shares` lists links without their URLs.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import datetime
from typing import Any

from ferrysync.daemon.cli import EXIT_OK, UsageError
from ferrysync.daemon.cli.commands import call, emit, emit_json
from ferrysync.daemon.cli.render import human_time, table

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d{1,9})\s*([smhdw]?)")


def parse_duration(text: str) -> int:
    """'7d', '12h', '30m', '2w', '90s' or plain seconds -> seconds (pure). Raises ValueError with the reason."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"{text!r} is not a duration: use e.g. 30m, 12h, 7d or 2w")
    seconds = int(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds < 1:
        raise ValueError("the duration must be at least one second")
    return seconds


def _when(value: object) -> str:
    if not isinstance(value, str):
        return "never"
    try:
        return human_time(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return value


def cmd_share(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"path": os.path.abspath(os.path.expanduser(args.path)), "remote": args.path}
    if args.expires is not None:
        try:
            params["expires_in"] = parse_duration(args.expires)
        except ValueError as exc:
            raise UsageError(f"--expires: {exc}") from None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UsageError("--password-stdin: standard input gave an empty password")
        params["password"] = password
    result = call("share", **params)
    if args.json:
        return emit_json(result)
    share = result.get("share", {})
    print(result.get("url", ""))
    until = f"until {_when(share.get('expires_at'))}" if share.get("expires_at") else "until you revoke it"
    lock = ", with the password" if share.get("has_password") else ""
    print(f"Anyone with this link can download /{share.get('path', '')}{lock} {until} "
          f"(`ferry unshare {share.get('id', '')}`). It is shown only now.", file=sys.stderr)
    return EXIT_OK


def cmd_shares(args: argparse.Namespace) -> int:
    result = call("shares")
    if args.json:
        return emit_json(result)
    items = result.get("shares", [])
    if not items:
        return emit(["No share links. `ferry share PATH` makes one."])
    rows = [[s.get("id", ""), "/" + str(s.get("path", "")) + ("/" if s.get("kind") == "dir" else ""),
             s.get("state", ""), _when(s.get("expires_at")), "yes" if s.get("has_password") else "no",
             s.get("downloads", 0), _when(s.get("last_download_at"))] for s in items]
    return emit(table(["ID", "PATH", "STATE", "EXPIRES", "PASSWORD", "DOWNLOADS", "LAST DOWNLOAD"], rows))


def cmd_unshare(args: argparse.Namespace) -> int:
    call("unshare", id=args.id)
    return emit([f"Revoked share link {args.id}: it no longer works."])
