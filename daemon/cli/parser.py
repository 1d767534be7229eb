"""The `ferry` command line: every subcommand's arguments, and which function runs it (imported lazily).

Each subcommand stores `run="module:function"` (a module of ferrysync.daemon.cli) so that `ferry status`
loads the IPC client only, and `ferry login` alone pays for the session code.
"""

from __future__ import annotations

import argparse

from ferrysync.daemon import __version__

EPILOG = """exit codes: 0 ok, 1 error, 2 usage, 3 daemon not running, 4 timed out (wait), 5 needs attention
(wait: paused, deletions waiting for approval, or a folder in error). Docs: docs/cli.md"""


def _json(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--json", action="store_true", help="print JSON (the daemon's own objects) instead of text"
    )


def _cmd(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    run: str,
    help: str,
    json: bool = False,
) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help, description=help)
    p.set_defaults(run=run)
    if json:
        _json(p)
    return p


def _group(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    p = sub.add_parser(name, help=help, description=help)
    return p.add_subparsers(dest=f"{name}_action", metavar="ACTION", required=True)


def _ipc_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _cmd(sub, "status", "watch:cmd_status", "show what the daemon is doing", json=True)
    p.add_argument("--watch", "-w", action="store_true", help="keep showing the status as it changes")
    p = _cmd(sub, "wait", "watch:cmd_wait", "wait until everything is synced")
    p.add_argument(
        "--timeout", type=float, default=None, metavar="S", help="give up after S seconds (exit 4)"
    )
    p = _cmd(sub, "pause", "commands:cmd_pause", "pause syncing (every folder, or one)")
    p.add_argument("folder", nargs="?", help="only this folder (its id or local path); it stays paused over a restart")
    p = _cmd(sub, "resume", "commands:cmd_resume", "resume syncing (every folder, or one)")
    p.add_argument("folder", nargs="?", help="only this folder (its id or local path)")
    p = _cmd(sub, "open", "commands:cmd_open", "open the settings window in your browser")
    p.add_argument("--print", action="store_true", dest="print_url",
                   help="print its one-time address instead of opening a browser")
    p = _cmd(sub, "stop", "commands:cmd_stop", "stop the daemon")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S", help="how long to wait for it to exit")

    folder = _group(sub, "folder", "add, remove or list synced folders")
    p = _cmd(folder, "add", "commands:cmd_folder_add", "sync a local folder")
    p.add_argument("local", help="the local folder")
    p.add_argument("--remote", help="its path in the cloud (default: /<folder name>)")
    p.add_argument("--exclude", action="append", default=[], metavar="REL",
                   help="do not sync this path (relative to the folder) to this disk, from the first merge on; "
                        "what the disk holds there is uploaded, never removed (repeatable)")
    p.add_argument("--encrypted", action="store_true",
                   help="end-to-end encrypt it (docs/encryption.md): creates the encrypted server folder, or joins "
                        "it with its passphrase")
    p.add_argument("--passphrase-stdin", action="store_true", help="read the passphrase from standard input")
    p.add_argument("--recovery-key-stdin", action="store_true",
                   help="join with the recovery key (read from standard input) instead of the passphrase")
    p = _cmd(folder, "passphrase", "commands:cmd_folder_passphrase",
             "change an encrypted folder's passphrase (re-wraps its key; nothing is re-uploaded)")
    p.add_argument("folder", help="the folder (its id or local path)")
    p.add_argument("--stdin", action="store_true", help="read the current and the new passphrase, one per line")
    p = _cmd(folder, "remove", "commands:cmd_folder_remove", "stop syncing a folder (files stay on disk)")
    p.add_argument("id", help="the folder's id (see `ferry folder list`)")
    _cmd(folder, "list", "commands:cmd_folder_list", "list synced folders", json=True)
    p = _cmd(folder, "set", "selective:cmd_folder_set", "change one folder's settings", json=True)
    p.add_argument("folder", help="the folder (its id or local path)")
    p.add_argument("--auto-include-new", choices=("on", "off"),
                   help="whether new top-level server folders are downloaded by themselves (on, the default) or "
                        "excluded until you include them (off)")

    for name, text in (("exclude", "stop syncing a subfolder to this disk (nothing is deleted on the server)"),
                       ("include", "sync an excluded subfolder to this disk again")):
        p = _cmd(sub, name, f"selective:cmd_{name}", text, json=True)
        p.add_argument("path", help="a path inside a synced folder; or a folder (its id or local path) when REL "
                                    "follows")
        p.add_argument("rel", nargs="?", metavar="REL", help="a path relative to the folder named first")
    p = _cmd(sub, "excluded", "selective:cmd_excluded", "what is excluded from this disk, and what stays anyway",
             json=True)
    p.add_argument("folder", nargs="?", help="only this folder (its id or local path)")

    _cmd(sub, "conflicts", "commands:cmd_conflicts", "list conflicted copies", json=True)
    p = _cmd(sub, "activity", "commands:cmd_activity", "recent changes", json=True)
    p.add_argument("--limit", "-n", type=int, default=50, help="how many (default 50)")
    _cmd(
        sub,
        "errors",
        "commands:cmd_errors",
        "files that failed to sync, and names this disk cannot hold",
        json=True,
    )

    deletions = _group(sub, "deletions", "deletions held back for approval")
    _cmd(deletions, "list", "commands:cmd_deletions_list", "list held-back deletions", json=True)
    for action in ("approve", "reject"):
        p = _cmd(deletions, action, f"commands:cmd_deletions_{action}", f"{action} held-back deletions")
        p.add_argument("--folder", dest="folder_id", help="only this folder (default: all)")

    p = _cmd(sub, "versions", "commands:cmd_versions", "list earlier versions of a file", json=True)
    p.add_argument("path", help="the local file")
    p = _cmd(sub, "restore", "commands:cmd_restore", "restore an earlier version of a file")
    p.add_argument("path", help="the local file")
    p.add_argument("--rev", help="the revision (default: the one before the current)")

    p = _cmd(sub, "share", "shares:cmd_share", "share a file or folder by a link anyone can download from", json=True)
    p.add_argument("path", help="a file or folder inside a synced folder, or a path in the cloud (/Docs/a.pdf)")
    p.add_argument("--expires", metavar="DURATION", help="the link stops working after this long: 30m, 12h, 7d, 2w")
    p.add_argument("--password-stdin", action="store_true",
                   help="protect the link by a password, read from the first line of standard input")
    _cmd(sub, "shares", "shares:cmd_shares", "your share links, with their downloads and expiry", json=True)
    p = _cmd(sub, "unshare", "shares:cmd_unshare", "revoke a share link: it stops working at once")
    p.add_argument("id", help="the link's ID (see `ferry shares`)")

    trash = sub.add_parser("trash", help="deleted files you can restore", description="deleted files")
    trash.set_defaults(run="commands:cmd_trash_list")
    _json(trash)
    tsub = trash.add_subparsers(dest="trash_action", metavar="ACTION")
    _cmd(tsub, "list", "commands:cmd_trash_list", "list deleted files", json=True)
    p = _cmd(tsub, "restore", "commands:cmd_trash_restore", "bring a deleted file back")
    p.add_argument("path", help="where the file used to be")

    settings = _group(sub, "settings", "read or change settings")
    _cmd(settings, "list", "commands:cmd_settings_list",
         "every setting Ferry knows: type, default, whether it can change while Ferry runs", json=True)
    p = _cmd(settings, "get", "commands:cmd_settings_get", "show settings", json=True)
    p.add_argument("key", nargs="?", help="one setting (default: all)")
    p = _cmd(settings, "set", "commands:cmd_settings_set", "change a setting")
    p.add_argument("key", help="one of the settings below")
    p.add_argument("value")
    _live_settings_epilog(p)


def _live_settings_epilog(p: argparse.ArgumentParser) -> None:
    """`ferry settings set --help` lists what it accepts, from the same declaration the daemon checks against."""
    from ferrysync.daemon.settings_schema import LIVE

    width = max(len(name) for name in LIVE)
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = "\n".join([
        "settings:",
        *(f"  {s.name:<{width}}  {s.type_text()}: {s.help}" for s in LIVE.values()),
        "The others are read from config.toml when Ferry starts: see `ferry settings list`.",
    ])


def _session_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _cmd(sub, "login", "commands_session:cmd_login", "sign this device in to a Ferry server")
    p.add_argument("server", nargs="?", help="the server's URL, e.g. https://ferry.example.org")
    p.add_argument("--user", "-u", help="your user name")
    p.add_argument("--device-name", help="how this device is listed (default: the host name)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.add_argument("--cafile", help="trust the CA (or self-signed certificate) in this PEM file for this server")
    p.add_argument("--pin", metavar="SHA256", help="accept only the server certificate with this SHA-256 fingerprint")
    p.add_argument("--plaintext-credentials", action="store_true",
                   help="keep the device token in a file only you can read, not the system keyring")
    p.add_argument("--insecure-http", action="store_true",
                   help="allow a plain http:// URL to a server on another machine (password and token unencrypted)")
    _cmd(sub, "logout", "commands_session:cmd_logout", "sign this device out and forget its token")
    p = _cmd(sub, "devices", "devices:cmd_devices", "your devices and when each was last used", json=True)
    dsub = p.add_subparsers(dest="devices_action", metavar="ACTION")
    _cmd(dsub, "list", "devices:cmd_devices", "your devices and when each was last used", json=True)
    p = _cmd(dsub, "revoke", "devices:cmd_devices", "sign a device out (a lost or sold one): its token stops working")
    p.add_argument("device_id", help="the device's ID (see `ferry devices`)")
    p = _cmd(sub, "decrypt", "decrypt:cmd_decrypt",
             "read an encrypted folder from a copy of the server's data directory (no server or daemon needed)")
    p.add_argument("--data", required=True, help="the server's data directory (ferry.db and its block store)")
    p.add_argument("--user", required=True, help="the account that owns the folder")
    p.add_argument("--remote", required=True, help="the encrypted folder's server path, e.g. /Vault")
    p.add_argument("--out", required=True, help="an empty or new local folder for the plaintext")
    p.add_argument("--s3-copy", metavar="DIR", help="a local copy of the server's S3 block store (objects ab/HASH)")
    p.add_argument("--passphrase-stdin", action="store_true", help="read the passphrase from standard input")
    p.add_argument("--recovery-key-stdin", action="store_true", help="read the recovery key from standard input")
    p = _cmd(sub, "share-folder", "sharing:cmd_share_folder",
             "share one of your folders with another user of the server (they sync it like their own)", json=True)
    p.add_argument("path", help="the folder's path on the server, e.g. /Team")
    p.add_argument("user", help="the user to share it with")
    p.add_argument("--read-only", action="store_true", help="they may read but not change it")
    p = _cmd(sub, "members", "sharing:cmd_members", "who a shared folder is shared with (no PATH: your shared "
             "folders)", json=True)
    p.add_argument("path", nargs="?", help="the shared folder's path on the server, e.g. /Team")
    p = _cmd(sub, "unshare-folder", "sharing:cmd_unshare_folder",
             "stop sharing a folder with a user (the owner), or leave a folder shared with you (no USER)")
    p.add_argument("path", help="the shared folder's path on the server, e.g. /Team")
    p.add_argument("user", nargs="?", help="the member to revoke (leave it out to leave the folder yourself)")
    p = _cmd(sub, "up", "commands_session:cmd_up", "sign in if needed, add a folder and start syncing")
    p.add_argument("folder", nargs="?", help="the local folder to sync")
    p.add_argument("--server", help="the server's URL")
    p.add_argument("--user", "-u", help="your user name")
    p = _cmd(sub, "start", "commands_session:cmd_start", "start the daemon")
    p.add_argument(
        "--foreground", "-f", action="store_true", help="run in this terminal instead of detaching"
    )
    p = _cmd(sub, "autostart", "commands_session:cmd_autostart", "start Ferry when you log in", json=True)
    p.add_argument("action", choices=["enable", "disable", "status"])
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--daemon", dest="target", action="store_const", const="daemon", help="the daemon only"
    )
    which.add_argument("--tray", dest="target", action="store_const", const="tray", help="the tray icon only")
    p.set_defaults(target="all")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ferry",
        description="Ferry keeps folders in sync across your desktops.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ferry {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _session_commands(sub)
    _ipc_commands(sub)
    return parser
