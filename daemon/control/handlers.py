"""The control channel's methods, served from the engine (see docs/ipc.md for the protocol).

Each handler takes the request's params and returns a JSON-able dict; a ValueError/KeyError becomes an error
answer with its message, never a crash of the daemon.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from ferrysync.daemon.config import Settings
from ferrysync.daemon.control.selective import find_folder, selective_handlers
from ferrysync.daemon.control.shares import share_handlers
from ferrysync.daemon.crypto import WrongPassphrase
from ferrysync.daemon.engine.e2ee import UNRECOVERABLE, EncryptionSetupError
from ferrysync.daemon.engine.engine import Engine
from ferrysync.daemon.engine.folder import FolderSync
from ferrysync.daemon.engine.notices import held_side
from ferrysync.daemon.ipc.protocol import SETTINGS, IpcError, check_setting
from ferrysync.daemon.local.names import check_server_path, nfc
from ferrysync.daemon.local.ondisk import disk_path
from ferrysync.daemon.local.trash import list_folder_trash, move_to_trash, restore_from_folder_trash
from ferrysync.daemon.planner.selective import check_excluded_path, normalise_exclusions
from ferrysync.daemon.remote.mapping import to_server
from ferrysync.daemon.settings_schema import BY_NAME

Handler = Callable[[Mapping[str, Any]], Mapping[str, Any]]


_DIRECTIONS = {"uploaded": "up", "downloaded": "down", "conflict": "local"}


def _settings_dict(s: Settings) -> dict[str, Any]:
    out = {k: v for k, v in dataclasses.asdict(s).items() if k in SETTINGS}
    out["start_at_login"] = _autostart_enabled()
    return out


def _fixed_settings(s: Settings) -> dict[str, Any]:
    """The settings only config.toml holds (read at start): shown, not changed, by the settings window."""
    return {k: v for k, v in dataclasses.asdict(s).items() if k in BY_NAME and k not in SETTINGS}


def _autostart_enabled() -> bool:
    from ferrysync.daemon import autostart

    try:
        st = autostart.status()
        return bool(st.get("daemon", {}).get("enabled")) if isinstance(st.get("daemon"), dict) else False
    except (autostart.AutostartError, OSError):  # not supported here, or its files unreadable
        return False


def _locate(engine: Engine, local_path: str) -> tuple[FolderSync, str]:
    """The folder holding an absolute local path, and the path relative to it.

    The relative path passes the one rule every path crossing the wire passes (`check_server_path`): a path
    like `<folder>/../../etc/passwd` is inside the folder only to a string comparison, and is refused here
    rather than sent to the server (versions, restore) or looked up in the folder's trash."""
    p = Path(local_path).expanduser().absolute()
    for f in engine.folders.values():
        if p.is_relative_to(f.root) and p != f.root:
            rel = nfc(p.relative_to(f.root).as_posix())  # the journal's spelling, whatever the disk's
            why = check_server_path(rel)
            if why is not None:
                raise IpcError("bad_request", f"{local_path}: not a path inside the synced folder {f.root}: {why}")
            return f, rel
    raise ValueError(f"{local_path} is not inside a synced folder")


def _epoch(value: str | float | None) -> float | None:
    """A server time (RFC 3339 text, docs/api.md) as seconds since the epoch, or None if it says none."""
    if isinstance(value, int | float):
        return float(value)
    try:
        return datetime.fromisoformat(value).timestamp() if value else None
    except ValueError:
        return None


def handlers(engine: Engine) -> dict[str, Handler]:  # noqa: C901 - mccabe adds up the ~20 small handlers it defines
    """Paths in answers are absolute local paths: what a user can open or paste into a shell."""

    def _abs(folder_id: str, rel: str) -> str:
        f = engine.folders.get(folder_id)
        return str(disk_path(f.root, rel)) if f is not None else rel

    def _folder(ref: object) -> FolderSync:
        return find_folder(engine, ref)

    def _pause(params: Mapping[str, Any], paused: bool) -> Mapping[str, Any]:
        ref = params.get("folder")
        if ref is None:
            engine.set_paused(paused)
            return {"paused": paused}
        f = engine.set_folder_paused(_folder(ref).fid, paused)
        return {"paused": engine.paused, "folder": {"id": f.fid, "local": str(f.root), "paused": paused}}

    def pause(params: Mapping[str, Any]) -> Mapping[str, Any]:
        return _pause(params, True)

    def resume(params: Mapping[str, Any]) -> Mapping[str, Any]:
        return _pause(params, False)

    def folders(_: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"folders": engine.status()["folders"]}

    def folder_add(params: Mapping[str, Any]) -> Mapping[str, Any]:
        local = params.get("local")
        if not isinstance(local, str) or not local:
            raise ValueError("folder_add needs 'local', the folder's path")
        remote = params.get("remote")
        if remote is not None and not isinstance(remote, str):
            raise ValueError("'remote' must be a path like /Documents")
        try:
            excluded = normalise_exclusions(check_excluded_path(p) for p in params.get("exclude", []))
        except ValueError as exc:
            raise IpcError("bad_request", f"exclude: {exc}") from None
        encrypted = bool(params.get("encrypted", False))
        try:
            f, recovery = engine.add_folder_keyed(
                local, remote, excluded=excluded, auto_include_new=bool(params.get("auto_include_new", True)),
                encrypted=encrypted, passphrase=params.get("passphrase"), recovery_key=params.get("recovery_key"))
        except WrongPassphrase as exc:
            raise IpcError("wrong_passphrase", str(exc)) from None
        except EncryptionSetupError as exc:
            raise IpcError("bad_request", str(exc)) from None
        out: dict[str, Any] = {"id": f.fid, "local": str(f.root), "remote": "/" + f.cfg.remote.strip("/"),
                               "encrypted": encrypted}
        if recovery is not None:
            out["recovery_key"] = recovery
            out["warning"] = UNRECOVERABLE
        return {"folder": out}

    def folder_passphrase(params: Mapping[str, Any]) -> Mapping[str, Any]:
        f = _folder(str(params.get("folder", "")))
        try:
            engine.change_passphrase(f.fid, str(params.get("old", "")), str(params.get("new", "")))
        except WrongPassphrase as exc:
            raise IpcError("wrong_passphrase", str(exc)) from None
        except EncryptionSetupError as exc:
            raise IpcError("bad_request", str(exc)) from None
        return {}

    def folder_remove(params: Mapping[str, Any]) -> Mapping[str, Any]:
        engine.remove_folder(_folder(params.get("id", "")).fid)
        return {}

    def settings_get(_: Mapping[str, Any]) -> Mapping[str, Any]:
        s = engine.settings()
        return {"settings": _settings_dict(s), "fixed": _fixed_settings(s)}

    def settings_set(params: Mapping[str, Any]) -> Mapping[str, Any]:
        key = str(params.get("key"))
        try:
            value = check_setting(key, params.get("value"))
        except ValueError as exc:
            raise IpcError("bad_request", str(exc)) from None
        if key == "start_at_login":
            from ferrysync.daemon import autostart

            (autostart.enable if value else autostart.disable)(["daemon", "tray"])
        else:
            engine.update_settings(**{key: value})
        return {"settings": _settings_dict(engine.settings())}

    def conflicts(_: Mapping[str, Any]) -> Mapping[str, Any]:
        out = []
        folders = engine.folders
        for c in engine.journal.list_conflicts():
            f = folders.get(c.folder_id)
            if f is not None and disk_path(f.root, c.path).exists():
                out.append({"folder_id": c.folder_id, "path": str(disk_path(f.root, c.path)),
                            "original": str(disk_path(f.root, c.original)), "time": c.ts})
        return {"conflicts": out}

    def conflict_resolve(params: Mapping[str, Any]) -> Mapping[str, Any]:
        """Keep one side of a conflict; the other goes to the trash (recoverable), never deleted outright.

        Keeping the copy puts its bytes in the original's place by a rename: the engine sees a user's edit of
        the original (uploaded as its next revision; the server keeps the one it replaces) and the copy gone."""
        keep = params.get("keep")
        if keep not in ("original", "copy"):
            raise IpcError("bad_request", "keep must be 'original' or 'copy'")
        f, rel = _locate(engine, str(params.get("path", "")))
        found = [c for c in engine.journal.list_conflicts() if c.folder_id == f.fid and c.path == rel]
        if not found:
            raise IpcError("not_found", f"{params.get('path')} is not a conflicted copy Ferry made")
        original = found[0].original
        use_os = engine.settings().trash == "os"
        copy_path, original_path = disk_path(f.root, rel), disk_path(f.root, original)
        if not copy_path.exists():
            raise IpcError("not_found", f"{copy_path} no longer exists")
        if keep == "original":
            move_to_trash(f.root, rel, use_os_trash=use_os)
        else:
            if original_path.exists():
                move_to_trash(f.root, original, use_os_trash=use_os)
            copy_path.replace(original_path)
        return {"kept": str(original_path)}

    def devices(_: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"user": engine.config.user, "server": engine.config.server_url,
                "devices": [dataclasses.asdict(d) for d in engine.client.devices()]}

    def device_revoke(params: Mapping[str, Any]) -> Mapping[str, Any]:
        engine.client.revoke_device(str(params.get("device_id", "")))
        return {}

    def activity(params: Mapping[str, Any]) -> Mapping[str, Any]:
        limit = params.get("limit", 50)
        if not isinstance(limit, int) or limit < 1:
            raise ValueError("limit must be a positive number")
        rows = []
        for a in engine.journal.list_activity(limit):
            direction = _DIRECTIONS.get(a.action, a.detail.split(" ")[0] if a.detail else "local")
            rows.append({"time": a.ts, "folder_id": a.folder_id, "path": _abs(a.folder_id, a.path),
                         "direction": direction if direction in ("up", "down", "local") else "local",
                         "action": a.action,
                         "size": int(a.detail) if a.detail.isascii() and a.detail.isdigit() else None})
        return {"activity": rows}

    def errors(_: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"errors": [{"folder_id": b.folder_id, "path": _abs(b.folder_id, b.path), "message": b.message,
                            "retry_at": b.next_try, "attempts": b.attempts}
                           for b in engine.journal.list_failures()]}

    def name_issues(_: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"entries": [{"folder_id": f.fid, "path": str(f.root / p), "reason": r}
                            for f in engine.folders.values() for p, r in sorted(f.name_issues().items())]}

    def _selected(params: Mapping[str, Any]) -> list[FolderSync]:
        fid = params.get("folder_id")
        return [f for f in engine.folders.values() if fid in (None, f.fid)]

    def deletions(_: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"pending": [{"folder_id": f.fid, "path": str(f.root / p), "side": held_side(a)}
                            for f in engine.folders.values() for p, a in sorted(f.view.held.items())]}

    def deletions_approve(params: Mapping[str, Any]) -> Mapping[str, Any]:
        for f in _selected(params):
            f.approve_deletions()
        return {}

    def deletions_reject(params: Mapping[str, Any]) -> Mapping[str, Any]:
        for f in _selected(params):
            f.reject_deletions()
        return {}

    def versions(params: Mapping[str, Any]) -> Mapping[str, Any]:
        f, rel = _locate(engine, str(params.get("path", "")))
        revs = f.ctx.client.revisions(to_server(f.ctx.prefix, rel))  # an encrypted folder's client decrypts
        # `time` (when the version was made) and `device` (which device made it) are the server's created_at
        # and modified_by, under the names the CLI and the web UI show.
        return {"revisions": [{**dataclasses.asdict(r), "time": _epoch(r.created_at), "device": r.modified_by}
                              for r in revs]}

    def restore(params: Mapping[str, Any]) -> Mapping[str, Any]:
        f, rel = _locate(engine, str(params.get("path", "")))
        server_path = to_server(f.ctx.prefix, rel)
        rev = params.get("rev")
        if rev is None:
            live = [r for r in f.ctx.client.revisions(server_path) if not r.deleted]
            if not live:
                raise ValueError(f"the server keeps no earlier version of {rel}")
            rev = live[0].rev
        if not isinstance(rev, int):
            raise ValueError("rev must be a revision number")
        f.ctx.client.restore(server_path, rev)
        f.feed.kick()
        return {"restored": rev}

    def trash_list(_: Mapping[str, Any]) -> Mapping[str, Any]:
        out = []
        for f in engine.folders.values():
            for item in list_folder_trash(f.root):
                out.append({"folder_id": f.fid, "path": str(f.root / item.relpath),
                            "trashed_at": item.trashed_at.timestamp(), "where": "folder"})
        return {"entries": out}

    def trash_restore(params: Mapping[str, Any]) -> Mapping[str, Any]:
        f, rel = _locate(engine, str(params.get("path", "")))
        items = [i for i in list_folder_trash(f.root) if i.relpath == rel]
        if not items:
            raise IpcError("not_found", f"{rel} is not in the folder's trash")
        restore_from_folder_trash(f.root, max(items, key=lambda i: i.trashed_at))
        return {}

    def wait_status(_: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"synced": engine.synced(), "caught_up": engine.caught_up()}

    def stop(_: Mapping[str, Any]) -> Mapping[str, Any]:
        engine.stop_requested.set()
        return {}

    def login_reload(_: Mapping[str, Any]) -> Mapping[str, Any]:
        return engine.reload_credentials()

    return {
        "status": lambda _: engine.status(), "pause": pause, "resume": resume, "folders": folders,
        "folder_add": folder_add, "folder_passphrase": folder_passphrase,
        "folder_remove": folder_remove, "settings_get": settings_get,
        "settings_set": settings_set, "conflicts": conflicts, "activity": activity, "errors": errors,
        "name_issues": name_issues, "deletions": deletions, "deletions_approve": deletions_approve,
        "deletions_reject": deletions_reject, "versions": versions, "restore": restore,
        "trash_list": trash_list, "trash_restore": trash_restore, "wait_status": wait_status, "stop": stop,
        "login_reload": login_reload, "conflict_resolve": conflict_resolve, "devices": devices,
        "device_revoke": device_revoke, **selective_handlers(engine), **share_handlers(engine, _locate),
    }
