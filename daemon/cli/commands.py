"""The `ferry` subcommands that are one or two IPC calls: ask the daemon, print the answer as text or JSON."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ferrysync.daemon.cli import EXIT_ERROR, EXIT_OK, UsageError
from ferrysync.daemon.cli.encryption import added_lines, encryption_params, passphrase_params
from ferrysync.daemon.cli.render import human_bytes, human_time, rows_of, setting_lines, setting_text, table
from ferrysync.daemon.ipc.client import ControlClient, DaemonNotRunning, Subscription
from ferrysync.daemon.ipc.protocol import SETTINGS, setting_from_text
from ferrysync.daemon.settings_schema import BY_NAME, not_live


def client() -> ControlClient:
    return ControlClient()


def call(method: str, **params: Any) -> dict[str, Any]:
    with client() as c:
        return c.call(method, **params)


def emit_json(obj: object) -> int:
    print(json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True))
    return EXIT_OK


def emit(lines: Iterable[str]) -> int:
    for line in lines:
        print(line)
    return EXIT_OK


def _show(
    args: argparse.Namespace,
    result: Mapping[str, Any],
    items: list[Mapping[str, Any]],
    empty: str,
    headers: list[str],
    columns: list[str],
    formats: Mapping[str, Any] | None = None,
) -> int:
    if args.json:
        return emit_json(result)
    if not items:
        return emit([empty])
    return emit(table(headers, rows_of(items, columns, formats)))


_WHEN = {"time": human_time, "trashed_at": human_time, "retry_at": human_time, "size": human_bytes}


# --- control ---------------------------------------------------------------------------------------------


def _folder_ref(args: argparse.Namespace) -> dict[str, str]:
    """A folder named on the command line, as the daemon knows it: its id, or its absolute local path."""
    ref = getattr(args, "folder", None)
    if ref is None:
        return {}
    path = Path(ref).expanduser()
    return {"folder": str(path.resolve()) if path.exists() else ref}


def cmd_pause(args: argparse.Namespace) -> int:
    answer = call("pause", **_folder_ref(args))
    if "folder" in answer:
        local = answer["folder"]["local"]
        return emit([f"Paused {local}; the other folders go on. Run `ferry resume {local}` to continue."])
    return emit(["Paused. Run `ferry resume` to continue."])


def cmd_resume(args: argparse.Namespace) -> int:
    answer = call("resume", **_folder_ref(args))
    if "folder" in answer:
        note = " (every folder is still paused: `ferry resume`)" if answer.get("paused") else ""
        return emit([f"Resumed {answer['folder']['local']}{note}."])
    return emit(["Resumed."])


def cmd_open(args: argparse.Namespace) -> int:
    """The settings window: the daemon mints a one-time address (valid two minutes) and this opens it."""
    url = str(call("ui_url")["url"])
    if args.print_url:
        return emit([url])
    import webbrowser

    if not webbrowser.open(url):
        print("ferry: no web browser found; open this address (once, within two minutes):", file=sys.stderr)
        return emit([url])
    return emit(["Opened Ferry's settings window in your browser."])


def cmd_stop(args: argparse.Namespace) -> int:
    """Ask the daemon to stop and wait until it has let go of its socket (a subscription ending tells us)."""
    c = client()
    try:
        sub = c.subscribe(["status"])
    except DaemonNotRunning:
        return emit(["The Ferry daemon is not running."])
    deadline = time.monotonic() + args.timeout
    with sub, c:
        c.call("stop")
        if _hung_up(sub, deadline) and _lock_released(c.paths.lock_file, deadline):
            return emit(["The Ferry daemon has stopped."])
    print(f"ferry: the daemon is still shutting down after {args.timeout:g} s", file=sys.stderr)
    return EXIT_ERROR


def _hung_up(sub: Subscription, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            sub.next_event(max(0.0, deadline - time.monotonic()))
        except DaemonNotRunning:
            return True
    return False


def _lock_released(lock_file: Path, deadline: float) -> bool:
    """The daemon closes its socket before it has finished exiting; its lock goes only with the process."""
    from ferrysync.daemon.lock import is_locked

    while is_locked(lock_file):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# --- folders ---------------------------------------------------------------------------------------------


def cmd_folder_add(args: argparse.Namespace) -> int:
    local = os.path.abspath(os.path.expanduser(args.local))
    if not os.path.isdir(local):
        raise UsageError(f"{local} is not a folder")
    params: dict[str, Any] = {"local": local}
    if args.remote:
        params["remote"] = args.remote
    if args.exclude:
        params["exclude"] = [p.strip("/") for p in args.exclude]
    params.update(encryption_params(args))
    folder = call("folder_add", **params)["folder"]
    return emit(added_lines(folder))


def cmd_folder_passphrase(args: argparse.Namespace) -> int:
    call("folder_passphrase", **passphrase_params(args))
    return emit(["The folder's key is now wrapped by the new passphrase (nothing was re-uploaded). Other devices "
                 "keep syncing; a new device joins with the new passphrase."])


def cmd_folder_remove(args: argparse.Namespace) -> int:
    call("folder_remove", id=args.id)
    return emit([f"Stopped syncing folder {args.id}; its files stay where they are."])


def cmd_folder_list(args: argparse.Namespace) -> int:
    result = call("folders")
    return _show(
        args,
        result,
        result.get("folders", []),
        "No folders are synced (add one with `ferry folder add`).",
        ["ID", "LOCAL", "REMOTE", "STATE"],
        ["id", "local", "remote", "state"],
    )


# --- reports ---------------------------------------------------------------------------------------------


def cmd_conflicts(args: argparse.Namespace) -> int:
    result = call("conflicts")
    return _show(
        args,
        result,
        result.get("conflicts", []),
        "No conflicts.",
        ["FOLDER", "CONFLICTED COPY", "ORIGINAL", "WHEN"],
        ["folder_id", "path", "original", "time"],
        _WHEN,
    )


def cmd_activity(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 10_000:
        raise UsageError("--limit must be between 1 and 10000")
    result = call("activity", limit=args.limit)
    return _show(
        args,
        result,
        result.get("activity", []),
        "No recent activity.",
        ["WHEN", "DIR", "ACTION", "SIZE", "FOLDER", "PATH"],
        ["time", "direction", "action", "size", "folder_id", "path"],
        _WHEN,
    )


def cmd_errors(args: argparse.Namespace) -> int:
    with client() as c:
        errors = c.call("errors").get("errors", [])
        issues = c.call("name_issues").get("entries", [])
    if args.json:
        return emit_json({"errors": errors, "name_issues": issues})
    lines = (
        ["No sync errors."]
        if not errors
        else [
            "Sync errors:",
            *(
                "  " + ln
                for ln in table(
                    ["FOLDER", "PATH", "ATTEMPTS", "NEXT TRY", "MESSAGE"],
                    rows_of(errors, ["folder_id", "path", "attempts", "retry_at", "message"], _WHEN),
                )
            ),
        ]
    )
    if issues:
        lines += [
            "Names this computer cannot hold (kept out of harm's way):",
            *(
                "  " + ln
                for ln in table(
                    ["FOLDER", "PATH", "REASON"], rows_of(issues, ["folder_id", "path", "reason"])
                )
            ),
        ]
    return emit(lines)


# --- deletions -------------------------------------------------------------------------------------------


def cmd_deletions_list(args: argparse.Namespace) -> int:
    result = call("deletions")
    return _show(
        args,
        result,
        result.get("pending", []),
        "No deletions are waiting for approval.",
        ["FOLDER", "SIDE", "PATH"],
        ["folder_id", "side", "path"],
    )


def _deletions_decide(args: argparse.Namespace, method: str, done: str) -> int:
    params = {} if args.folder_id is None else {"folder_id": args.folder_id}
    call(method, **params)
    scope = "all folders" if args.folder_id is None else f"folder {args.folder_id}"
    return emit([f"{done} the held-back deletions in {scope}."])


def cmd_deletions_approve(args: argparse.Namespace) -> int:
    return _deletions_decide(args, "deletions_approve", "Approved")


def cmd_deletions_reject(args: argparse.Namespace) -> int:
    return _deletions_decide(args, "deletions_reject", "Rejected (the files will be restored)")


# --- versions and trash ----------------------------------------------------------------------------------


def _local_path(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


def _rev(text: str) -> int | str:
    return int(text) if text.isascii() and text.isdigit() else text


def cmd_versions(args: argparse.Namespace) -> int:
    result = call("versions", path=_local_path(args.path))
    revisions = result.get("revisions", [])
    columns = [c for c in ("rev", "time", "mtime", "size", "device") if any(c in r for r in revisions)]
    return _show(
        args,
        result,
        revisions,
        "No earlier versions.",
        [c.upper() for c in columns] or ["REVISION"],
        columns or ["rev"],
        {**_WHEN, "mtime": human_time},
    )


def cmd_restore(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"path": _local_path(args.path)}
    if args.rev is not None:
        params["rev"] = _rev(args.rev)
    call("restore", **params)
    which = f"revision {args.rev}" if args.rev is not None else "the previous version"
    return emit([f"Restored {which} of {params['path']}."])


def cmd_trash_list(args: argparse.Namespace) -> int:
    result = call("trash_list")
    return _show(
        args,
        result,
        result.get("entries", []),
        "The trash is empty.",
        ["DELETED", "WHERE", "FOLDER", "PATH"],
        ["trashed_at", "where", "folder_id", "path"],
        _WHEN,
    )


def cmd_trash_restore(args: argparse.Namespace) -> int:
    path = _local_path(args.path)
    call("trash_restore", path=path)
    return emit([f"Restored {path}."])


# --- settings --------------------------------------------------------------------------------------------


def _known_key(key: str) -> str:
    if key in SETTINGS:
        return key
    if key in BY_NAME:  # declared, but only config.toml holds it: say where, rather than "unknown"
        raise UsageError(str(not_live(key)))
    raise UsageError(f"unknown setting {key!r}; known settings: {', '.join(sorted(SETTINGS))}")


def cmd_settings_list(args: argparse.Namespace) -> int:
    """Every declared setting, answered from the schema itself: it works with no daemon and cannot disagree."""
    declared = list(BY_NAME.values())
    if args.json:
        return emit_json({"settings": [
            {"name": s.name, "type": s.kind, "allowed": s.type_text(), "default": s.default_value(), "live": s.live,
             "in_config": s.in_config, "help": s.help}
            for s in declared
        ]})
    return emit(table(
        ["SETTING", "TYPE", "DEFAULT", "CHANGE", "WHAT IT DOES"],
        [[s.name, s.type_text(), s.default_text(), "live" if s.live else "config.toml", s.help] for s in declared],
    ))


def cmd_settings_get(args: argparse.Namespace) -> int:
    """All settings, or one; --json keeps the daemon's {"settings": {...}} shape either way."""
    key = None if args.key is None else _known_key(args.key)
    settings = call("settings_get")["settings"]
    if key is not None:
        settings = {key: settings.get(key)}
        if not args.json:
            return emit([setting_text(settings[key])])
    return emit_json({"settings": settings}) if args.json else emit(setting_lines(settings))


def cmd_settings_set(args: argparse.Namespace) -> int:
    key = _known_key(args.key)
    try:
        value = setting_from_text(key, args.value)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    settings = call("settings_set", key=key, value=value)["settings"]
    return emit(setting_lines({key: settings.get(key, value)}))
