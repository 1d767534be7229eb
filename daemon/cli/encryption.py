"""`ferry folder add --encrypted` and `ferry folder passphrase`: read secrets, ask the daemon, show the recovery key.

Secrets are read from the terminal without echo (or one per line from standard input with --*-stdin, for
scripts) and travel only over the user-only local socket; the daemon keeps the unwrapped key in the keyring.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from ferrysync.daemon.cli import UsageError

WARNING = ("An encrypted folder can be read only with its passphrase or its recovery key. Ferry cannot recover "
           "either: lose both and the files are gone for good (the server holds only ciphertext).")


def _secret(prompt: str, *, confirm: bool) -> str:
    first = getpass.getpass(prompt)
    if confirm and sys.stdin.isatty() and getpass.getpass("Repeat it: ") != first:
        raise UsageError("the two passphrases differ")
    return first


def encryption_params(args: argparse.Namespace) -> dict[str, Any]:
    """The folder_add parameters for --encrypted (empty without it)."""
    if not getattr(args, "encrypted", False):
        if args.passphrase_stdin or args.recovery_key_stdin:
            raise UsageError("--passphrase-stdin and --recovery-key-stdin go with --encrypted")
        return {}
    if args.recovery_key_stdin:
        return {"encrypted": True, "recovery_key": sys.stdin.readline().strip()}
    if args.passphrase_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
    else:
        print(WARNING, file=sys.stderr)
        secret = _secret("Passphrase of the encrypted folder: ", confirm=True)
    if not secret:
        raise UsageError("an encrypted folder needs a passphrase")
    return {"encrypted": True, "passphrase": secret}


def added_lines(folder: dict[str, Any]) -> list[str]:
    lines = [f"Syncing {folder.get('local')} with {folder.get('remote')} (folder id {folder.get('id')})"
             + (", end-to-end encrypted." if folder.get("encrypted") else ".")]
    if folder.get("recovery_key"):
        lines += ["", "Recovery key (shown ONCE; write it down and keep it apart from your passphrase):",
                  f"    {folder['recovery_key']}", "", str(folder.get("warning", WARNING))]
    return lines


def passphrase_params(args: argparse.Namespace) -> dict[str, str]:
    if args.stdin:
        old = sys.stdin.readline().rstrip("\r\n")
        new = sys.stdin.readline().rstrip("\r\n")
    else:
        old = getpass.getpass("Current passphrase (or the recovery key): ")
        new = _secret("New passphrase: ", confirm=True)
    if not new:
        raise UsageError("the new passphrase is empty")
    return {"folder": args.folder, "old": old, "new": new}
