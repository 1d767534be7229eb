"""`ferry exclude`, `ferry include`, `ferry excluded` and `ferry folder set`: choosing what syncs to this disk.

A path is named the way a user sees it: a local path inside a synced folder (`ferry exclude ~/Ferry/Videos`), or a
folder (its id or local path, as `ferry pause FOLDER` takes) and a path relative to it (`ferry exclude ~/Ferry
Videos/2019`), which also works for a folder that exists only on the server.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from ferrysync.daemon.cli import UsageError
from ferrysync.daemon.cli.commands import _folder_ref, call, emit, emit_json
from ferrysync.daemon.cli.render import table


def locate(path: str, rel: str | None, roots: list[str]) -> tuple[str, str]:
    """(folder, relative path) for the IPC from what the user typed; UsageError if it names no synced folder.

    Pure apart from the file system's view of `path` (made absolute, and resolved through symlinks when that
    reaches a synced root): `roots` are the daemon's folder roots."""
    if rel is not None:
        ref = _folder_ref(argparse.Namespace(folder=path))["folder"]
        return ref, rel.strip("/")
    typed = Path(os.path.abspath(os.path.expanduser(path)))
    candidates = [typed]
    parent = typed.parent
    if parent.exists():
        candidates.append(parent.resolve() / typed.name)
    for p in candidates:
        for root in roots:
            r = Path(root)
            if p.is_relative_to(r) and p != r:
                return root, p.relative_to(r).as_posix()
    raise UsageError(f"{path} is not inside a synced folder (see `ferry folder list`); "
                     "or name the folder and a path inside it: ferry exclude FOLDER PATH")


def _target(args: argparse.Namespace) -> dict[str, str]:
    roots = [] if args.rel is not None else [str(f["local"]) for f in call("folders").get("folders", [])]
    folder, rel = locate(args.path, args.rel, roots)
    return {"folder": folder, "path": rel}


def cmd_exclude(args: argparse.Namespace) -> int:
    target = _target(args)
    answer = call("exclude", **target)
    if args.json:
        return emit_json(answer)
    lines = [f"Excluded {target['path']}: it is no longer downloaded here, and what this disk holds of it that "
             "the server also has goes to the trash. Nothing is deleted on the server."]
    kept = answer.get("kept", [])
    if kept:
        lines.append(f"{len(kept)} files stay on this disk:")
        lines += table(["PATH", "WHY"], [[k["path"], k["reason"]] for k in kept])
    return emit(lines)


def cmd_include(args: argparse.Namespace) -> int:
    target = _target(args)
    answer = call("include", **target)
    if args.json:
        return emit_json(answer)
    return emit([f"Included {target['path']} again: it downloads now (reusing what this disk already holds)."])


def cmd_excluded(args: argparse.Namespace) -> int:
    params: dict[str, Any] = _folder_ref(args)
    answer = call("excluded", **params)
    if args.json:
        return emit_json(answer)
    lines: list[str] = []
    for f in answer.get("folders", []):
        auto = "included" if f.get("auto_include_new", True) else "excluded"
        lines.append(f"{f['root']} (new server folders are {auto} by themselves)")
        excluded = f.get("excluded", [])
        lines += [f"  excluded: {p}" for p in excluded] or ["  nothing excluded"]
        for k in f.get("kept", []):
            lines.append(f"  kept on this disk: {k['path']} ({k['reason']})")
    return emit(lines or ["No synced folders."])


def cmd_folder_set(args: argparse.Namespace) -> int:
    if args.auto_include_new is None:
        raise UsageError("nothing to set: give --auto-include-new on|off")
    value = args.auto_include_new == "on"
    answer = call("folder_set", **_folder_ref(args), auto_include_new=value)
    if args.json:
        return emit_json(answer)
    what = "included (downloaded)" if value else "excluded (not downloaded)"
    return emit([f"New top-level server folders in {answer['folder']['root']} are now {what} by themselves."])

