"""`ferry share-folder`, `ferry members`, `ferry unshare-folder`: folders shared between users of one server.

Like `ferry devices` they talk to the server directly with this device's stored token (the daemon need not run);
the shared folder then reaches every device through the change feed. Paths are the server's (e.g. /Team), the
ones `ferry folder add --remote` takes. Share links (`ferry share`) are another feature.
"""

from __future__ import annotations

import argparse
import json

from ferrysync.daemon.cli import EXIT_OK
from ferrysync.daemon.cli.devices import _client, _fail
from ferrysync.daemon.cli.render import table
from ferrysync.daemon.credentials import CredentialsError
from ferrysync.daemon.remote import RemoteError


def _path(text: str) -> str:
    return text.strip("/")


def cmd_share_folder(args: argparse.Namespace) -> int:
    role = "ro" if args.read_only else "rw"
    try:
        member = _client().share_folder(_path(args.path), args.user, role)
    except (RemoteError, CredentialsError, RuntimeError) as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(member))
        return EXIT_OK
    access = "read-only" if role == "ro" else "read-write"
    print(f"Shared /{_path(args.path)} with {args.user} ({access}); they see it as /{member.get('path')}.")
    return EXIT_OK


def cmd_members(args: argparse.Namespace) -> int:
    try:
        client = _client()
        if args.path is None:
            rows = client.mounts()
            if args.json:
                print(json.dumps({"mounts": rows}))
                return EXIT_OK
            if not rows:
                print("No shared folders: `ferry share-folder PATH USER` shares one.")
                return EXIT_OK
            print("\n".join(table(["FOLDER", "ROLE", "OWNER", "PEOPLE"],
                        [[f"/{m.get('path')}", str(m.get("role")), str(m.get("owner")), str(m.get("members"))]
                         for m in rows])))
            return EXIT_OK
        members = client.folder_members(_path(args.path))
    except (RemoteError, CredentialsError, RuntimeError) as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps({"members": members}))
        return EXIT_OK
    print("\n".join(table(["USER", "ROLE"], [[str(m.get("user")), str(m.get("role"))] for m in members])))
    return EXIT_OK


def cmd_unshare_folder(args: argparse.Namespace) -> int:
    try:
        _client().unshare_folder(_path(args.path), args.user)
    except (RemoteError, CredentialsError, RuntimeError) as exc:
        return _fail(str(exc))
    if args.user is None:
        print(f"Left /{_path(args.path)}: it leaves your devices; the owner's files stay.")
    else:
        print(f"Stopped sharing /{_path(args.path)} with {args.user}: it leaves their devices; your files stay.")
    return EXIT_OK
