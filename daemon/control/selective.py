"""The control channel's selective-sync methods: `exclude`, `include`, `excluded`, `remote_dirs`, `folder_set`
(docs/ipc.md).

The choice is saved in config.toml (its one definition) before the folder's loop hears of it; the loop then frees
the disk of what was excluded, or downloads what was included again (invariant 10: only the loop acts on a
folder). The answers read the journal's trees, as every reader may; they change nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from ferrysync.daemon.config import FolderConfig
from ferrysync.daemon.engine.engine import Engine
from ferrysync.daemon.engine.folder import FolderSync
from ferrysync.daemon.ipc.protocol import IpcError
from ferrysync.daemon.model import Kind
from ferrysync.daemon.planner import PathRows
from ferrysync.daemon.planner.selective import (
    check_excluded_path,
    covering,
    immediate_dirs,
    is_excluded,
    kept_reason,
    normalise_exclusions,
    removals,
)

Handler = Callable[[Mapping[str, Any]], Mapping[str, Any]]


def find_folder(engine: Engine, ref: object) -> FolderSync:
    """A synced folder named by its id or its local root path."""
    match = [f for f in engine.folders.values() if str(ref) in (f.fid, str(f.root))]
    if not match:
        raise IpcError("not_found", f"no synced folder {ref!r}")
    return match[0]


def _path(params: Mapping[str, Any]) -> str:
    try:
        return check_excluded_path(str(params.get("path", "")))
    except ValueError as exc:
        raise IpcError("bad_request", str(exc)) from None


def kept_files(f: FolderSync, excluded: tuple[str, ...]) -> list[dict[str, str]]:
    """Files still on this disk inside the excluded paths, and why each stays."""
    out: list[dict[str, str]] = []
    for prefix in excluded:
        entries = [e for e in f.journal.iter_tree(f.fid, "local", prefix) if e.kind is not Kind.DIR]
        rows = f.journal.rows_for_paths(f.fid, (e.path for e in entries))
        out += [{"path": p, "reason": kept_reason(PathRows(p, *r))} for p, r in sorted(rows.items())]
    return out


def _describe(f: FolderSync) -> dict[str, Any]:
    cfg = f.cfg
    return {"id": f.fid, "root": str(f.root), "excluded": list(cfg.excluded), "kept": kept_files(f, cfg.excluded),
            "auto_include_new": cfg.auto_include_new}


def selective_handlers(engine: Engine) -> dict[str, Handler]:
    def exclude(params: Mapping[str, Any]) -> Mapping[str, Any]:
        f = find_folder(engine, params.get("folder"))
        path = _path(params)
        before = f.cfg.excluded
        if is_excluded(path, before):
            cfg = f.cfg
        else:
            cfg = engine.update_folder(f.fid, lambda c: replace(c, excluded=normalise_exclusions((*c.excluded, path))))
        # What will stay on this disk, as the loop will find it (it frees the rest on its next round).
        entries = list(f.journal.iter_tree(f.fid, "local", path))
        rows = f.journal.rows_for_paths(f.fid, (e.path for e in entries))
        _, kept = removals(PathRows(p, *r) for p, r in rows.items())
        f.exclusions_changed([path], [])  # run again even when already excluded: frees what a kill left behind
        return {"excluded": list(cfg.excluded),
                "kept": [{"path": p, "reason": why} for p, why in sorted(kept.items())]}

    def include(params: Mapping[str, Any]) -> Mapping[str, Any]:
        f = find_folder(engine, params.get("folder"))
        path = _path(params)
        excluded = f.cfg.excluded
        inside = [e for e in excluded if e == path or e.startswith(path + "/")]
        if not inside:
            parent = covering(path, excluded)
            if parent is not None:
                raise IpcError("bad_request", f"{path} lies inside the excluded {parent}: include {parent} instead")
            raise IpcError("not_found", f"{path} is not excluded")
        cfg = engine.update_folder(f.fid, lambda c: replace(c, excluded=tuple(e for e in c.excluded
                                                                               if e not in inside)))
        f.exclusions_changed([], inside)
        return {"excluded": list(cfg.excluded)}

    def excluded(params: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = params.get("folder")
        folders = [find_folder(engine, ref)] if ref is not None else list(engine.folders.values())
        return {"folders": [_describe(f) for f in folders]}

    def remote_dirs(params: Mapping[str, Any]) -> Mapping[str, Any]:
        f = find_folder(engine, params.get("folder"))
        raw = str(params.get("path", "") or "")
        parent = "" if not raw.strip("/") else _path(params)
        dirs = [e.path for e in f.journal.descendants(f.fid, "remote", parent) if e.kind is Kind.DIR]
        excl = f.cfg.excluded
        return {"dirs": [{"name": p.rsplit("/", 1)[-1], "path": p, "excluded": is_excluded(p, excl)}
                         for p in immediate_dirs(dirs, parent)]}

    def folder_set(params: Mapping[str, Any]) -> Mapping[str, Any]:
        f = find_folder(engine, params.get("folder"))
        value = params.get("auto_include_new")
        if not isinstance(value, bool):
            raise IpcError("bad_request", "auto_include_new must be true or false")

        def change(c: FolderConfig) -> FolderConfig:
            return replace(c, auto_include_new=value)
        engine.update_folder(f.fid, change)
        f.exclusions_changed([], [])  # plan again: new server folders now follow the new setting
        return {"folder": _describe(f)}

    return {"exclude": exclude, "include": include, "excluded": excluded, "remote_dirs": remote_dirs,
            "folder_set": folder_set}
