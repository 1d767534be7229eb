"""`ferry devices`: this account's devices with their last use, and revoking one (a lost laptop) from here.

It talks to the server directly with this device's stored token, so it works whether or not the daemon runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from ferrysync.daemon.cli import EXIT_ERROR, EXIT_OK
from ferrysync.daemon.cli.render import human_time, table
from ferrysync.daemon.config import load_config
from ferrysync.daemon.credentials import CredentialsError, open_store
from ferrysync.daemon.paths import ferry_paths
from ferrysync.daemon.remote import NotFound, RemoteClient, RemoteError, Unauthorized


def _client() -> RemoteClient:
    paths = ferry_paths()
    cfg = load_config(paths)
    if not cfg.server_url or not cfg.user:
        raise RuntimeError("this device is not logged in: run `ferry login URL --user NAME`")
    token = open_store(cfg.settings.credentials_store, paths).get_token(cfg.user, cfg.server_url)
    if not token:
        raise RuntimeError(f"no device token for {cfg.user} on {cfg.server_url}: run `ferry login`")
    s = cfg.settings
    return RemoteClient(cfg.server_url, token, verify=s.tls_ca_file or True, pin_sha256=s.tls_pin_sha256)


def _when(text: str | float | int | None) -> str:
    if not isinstance(text, str):
        return "never" if text is None else str(text)
    try:
        return human_time(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return text


def _fail(message: str) -> int:
    print(f"ferry: {message}", file=sys.stderr)
    return EXIT_ERROR


def cmd_devices(args: argparse.Namespace) -> int:
    try:
        with _client() as client:
            if getattr(args, "devices_action", None) == "revoke":
                return _revoke(client, args.device_id)
            devices = client.devices()
    except (RuntimeError, CredentialsError) as exc:
        return _fail(str(exc))
    except Unauthorized as exc:
        return _fail(f"the server refused this device's token ({exc.message}): log in again with `ferry login`")
    except (RemoteError, OSError) as exc:
        return _fail(f"could not reach the server: {exc}")
    if getattr(args, "json", False):
        print(json.dumps({"devices": [{"device_id": d.device_id, "name": d.name, "created_at": d.created_at,
                                       "last_seen": d.last_seen, "expires_at": d.expires_at, "current": d.current}
                                      for d in devices]}, indent=1))
        return EXIT_OK
    rows = [[d.device_id, d.name + (" (this device)" if d.current else ""), _when(d.last_seen),
             _when(d.created_at), "never" if d.expires_at is None else _when(d.expires_at)] for d in devices]
    for line in table(["ID", "NAME", "LAST USED", "SIGNED IN", "TOKEN EXPIRES"], rows):
        print(line)
    print("A device you no longer have: `ferry devices revoke ID` signs it out at once.")
    return EXIT_OK


def _revoke(client: RemoteClient, device_id: str) -> int:
    mine = next((d for d in client.devices() if d.device_id == device_id), None)
    try:
        client.revoke_device(device_id)
    except NotFound:
        return _fail(f"no active device {device_id!r} on this account (see `ferry devices`)")
    name = mine.name if mine is not None else device_id
    if mine is not None and mine.current:
        print(f"Revoked {name} — this device: it is signed out; `ferry login` signs it in again.")
    else:
        print(f"Revoked {name}: its token no longer works; it must log in again with the password.")
    return EXIT_OK
