"""What the tray shows for a given daemon state: icon state, status line and the menu, as plain data.

`build_view(snapshot, now)` is a pure function, so every state the daemon can be in is unit-tested without a
display; `tray/ui.py` only translates the resulting menu model into pystray objects. Commands are data too
(`Command("pause")`), executed by `tray/controller.py` on a worker thread.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ferrysync.tray.fmt import (
    ago,
    as_dict,
    as_float,
    as_int,
    as_str,
    basename,
    human_speed,
    limit_label,
    plural,
    seconds_left,
    short,
)

CommandName = Literal[
    "pause", "resume", "open_path", "open_log", "settings_set", "deletions_approve", "deletions_reject",
    "add_folder", "remove_folder", "start_daemon", "quit_tray", "quit_ferry", "preferences",
]

LIMIT_CHOICES_KBPS: tuple[int, ...] = (0, 100, 500, 1000, 2000, 5000, 10000)
RECENT_LIMIT = 10
LIST_LIMIT = 10  # rows of a conflicts / deletions submenu before "…and N more"


@dataclass(frozen=True)
class Command:
    name: CommandName
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Item:
    """A menu entry; `command=None` makes an informational (disabled) line."""

    label: str
    command: Command | None = None
    checked: bool | None = None
    radio: bool = False
    default: bool = False
    enabled: bool = True

    @property
    def active(self) -> bool:
        return self.enabled and self.command is not None


@dataclass(frozen=True)
class Submenu:
    label: str
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Separator:
    pass


SEPARATOR = Separator()
Node = Item | Submenu | Separator


@dataclass(frozen=True)
class Snapshot:
    """Everything the tray knows, gathered by the controller. Times are Unix seconds."""

    connected: bool = False
    status: Mapping[str, Any] | None = None
    status_time: float = 0.0  # when `status` arrived, for the offline countdown
    activity: Sequence[Mapping[str, Any]] = ()
    conflicts: Sequence[Mapping[str, Any]] = ()
    deletions: Sequence[Mapping[str, Any]] = ()
    settings: Mapping[str, Any] | None = None
    starting: bool = False  # "Start Ferry" was chosen and the daemon has not answered yet
    notice: str | None = None  # the outcome of the last action when it failed, in words


@dataclass(frozen=True)
class View:
    icon: str  # one of tray.icons.STATES
    status_line: str
    title: str  # tooltip
    menu: tuple[Node, ...] = field(default_factory=tuple)

    @property
    def digest(self) -> str:
        """A short fingerprint of the menu, logged by the UI so tests can tell when a menu is in place."""
        return hashlib.sha1(repr(self.menu).encode(), usedforsecurity=False).hexdigest()[:12]

    @property
    def default(self) -> Command | None:
        """The click action: the menu's default item."""
        for node in self.menu:
            if isinstance(node, Item) and node.default and node.active:
                return node.command
        return None


def status_line(status: Mapping[str, Any], elapsed: float = 0.0) -> str:
    """The first menu line for a daemon status; `elapsed` is the age of `status` (offline countdown)."""
    state = as_str(status, "state")
    message = as_str(status, "message").strip()
    if state == "idle":
        return "Up to date"
    if state == "syncing":
        files = sum(as_int(as_dict(status, k), "count") for k in ("pending_up", "pending_down"))
        transfers = status.get("transfers")
        if not files and isinstance(transfers, list):
            files = len(transfers)
        speed = (as_float(status, "speed_up") or 0.0) + (as_float(status, "speed_down") or 0.0)
        if not files:
            return "Syncing…"
        line = f"Syncing {plural(files, 'file')}"
        return f"{line} — {human_speed(speed)}" if speed > 0 else line
    if state == "paused":
        return "Paused"
    if state == "offline":
        retry_in = as_float(status, "retry_in")
        if retry_in is None:
            return "Offline"
        left = seconds_left(retry_in - elapsed)
        return f"Offline — retrying in {left} s" if left > 0 else "Offline — retrying now"
    if state == "error":
        return message or "Sync error"
    return message or (f"State: {state}" if state else "Unknown state")


def attention_line(status: Mapping[str, Any]) -> str:
    """What is waiting for the user, if anything: '2 conflicts · 40 deletions waiting'."""
    parts = []
    if n := as_int(status, "conflicts"):
        parts.append(plural(n, "conflict"))
    if n := as_int(status, "deletions_pending"):
        parts.append(f"{plural(n, 'deletion')} waiting")
    if n := as_int(status, "errors"):
        parts.append(f"{plural(n, 'file')} could not sync")
    if n := as_int(status, "name_issues"):
        parts.append(f"{plural(n, 'name')} not allowed here")
    return " · ".join(parts)


def icon_state(snapshot: Snapshot) -> str:
    status = snapshot.status
    if not snapshot.connected or status is None:
        return "offline"
    state = as_str(status, "state")
    if state in ("paused", "offline", "error"):
        return state
    if attention_line(status):
        return "attention"
    if state in ("idle", "syncing"):
        return state
    return "attention"  # a state this tray does not know: make the user look


def folders_of(status: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    raw = status.get("folders") if status else None
    if not isinstance(raw, list):
        return []
    return [f for f in raw if isinstance(f, Mapping) and as_str(f, "id") and as_str(f, "local")]


def folder_names(folders: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Folder id → a short distinct label: the basename, or the whole local path when two basenames clash."""
    short_names = {as_str(f, "id"): basename(as_str(f, "local")) for f in folders}
    clashes = Counter(short_names.values())
    labels = {}
    for f in folders:
        fid = as_str(f, "id")
        labels[fid] = short_names[fid] if clashes[short_names[fid]] == 1 else as_str(f, "local")
    return labels


def local_path(folders: Sequence[Mapping[str, Any]], folder_id: str, rel: str) -> str | None:
    """The local absolute path of a sync path (relative, '/'-separated), or None for an unknown folder.

    The daemon answers with absolute local paths; a relative one is resolved against its folder."""
    if rel.startswith("/") or (len(rel) > 2 and rel[1] == ":" and rel[2] in "\\/"):
        return rel
    for f in folders:
        if as_str(f, "id") == folder_id:
            root = as_str(f, "local")
            parts = [p for p in rel.split("/") if p not in ("", ".", "..")]
            return posixpath.join(root, *parts) if "/" in root else "\\".join([root.rstrip("\\"), *parts])
    return None


def in_folder(folders: Sequence[Mapping[str, Any]], folder_id: str, path: str) -> str:
    """A path as the user knows it inside its sync folder ('old/a.txt'): the daemon answers with absolute
    local paths, which in a menu are mostly the folder's own, repeated. Anything else is returned as is."""
    for f in folders:
        if as_str(f, "id") == folder_id:
            root = as_str(f, "local").replace("\\", "/").rstrip("/")
            norm = path.replace("\\", "/")
            if root and norm.startswith(root + "/"):
                return norm[len(root) + 1:]
    return path


def _recent(snapshot: Snapshot, folders: Sequence[Mapping[str, Any]], now: float) -> tuple[Node, ...]:
    arrows = {"up": "↑", "down": "↓"}
    items: list[Node] = []
    seen: set[tuple[str, str]] = set()
    for entry in snapshot.activity:
        key = (as_str(entry, "folder_id"), as_str(entry, "path"))
        if not key[1] or key in seen:
            continue
        seen.add(key)
        action = as_str(entry, "action")
        when = as_float(entry, "time")
        label = f"{arrows.get(as_str(entry, 'direction'), '•')} {short(basename(key[1]), 48)}"
        if when is not None:
            label += f" — {ago(when, now)}"
        path = local_path(folders, *key)
        gone = "delete" in action or "remove" in action
        if gone:
            label += " (deleted)"
        items.append(Item(label, None if gone or path is None else Command("open_path", (path,))))
        if len(items) == RECENT_LIMIT:
            break
    return tuple(items) or (Item("No recent changes"),)


def _conflicts(snapshot: Snapshot, folders: Sequence[Mapping[str, Any]], count: int) -> Submenu | None:
    total = max(count, len(snapshot.conflicts))
    if not total:
        return None
    items: list[Node] = []
    for c in snapshot.conflicts[:LIST_LIMIT]:
        path = local_path(folders, as_str(c, "folder_id"), as_str(c, "path"))
        command = Command("open_path", (path,)) if path else None
        items.append(Item(short(basename(as_str(c, "path"))), command))
    if total > len(items):
        items.append(Item(f"…and {total - len(items)} more" if items else "Loading…"))
    return Submenu(f"Conflicts ({total})", tuple(items))


def _deletions(snapshot: Snapshot, folders: Sequence[Mapping[str, Any]], names: Mapping[str, str],
               count: int) -> Submenu | None:
    total = max(count, len(snapshot.deletions))
    if not total:
        return None
    pending_folders = sorted({as_str(d, "folder_id") for d in snapshot.deletions} & set(names))
    rows: list[Node] = []
    for d in snapshot.deletions[:LIST_LIMIT]:
        fid = as_str(d, "folder_id")
        label = in_folder(folders, fid, as_str(d, "path"))
        if len(pending_folders) > 1 and fid in names and label != as_str(d, "path"):
            label = f"{names[fid]}/{label}"  # which folder, when the list spans several
        rows.append(Item(short(label)))
    if total > len(rows):
        rows.append(Item(f"…and {total - len(rows)} more"))
    rows.append(SEPARATOR)
    rows.append(Item("Approve all deletions", Command("deletions_approve", ())))
    rows.append(Item("Keep all files (reject)", Command("deletions_reject", ())))
    if len(pending_folders) > 1:
        for fid in pending_folders:
            rows.append(Submenu(f"In “{names[fid]}”", (
                Item("Approve deletions", Command("deletions_approve", (fid,))),
                Item("Keep the files (reject)", Command("deletions_reject", (fid,))),
            )))
    return Submenu(f"Deletions waiting ({total})", tuple(rows))


def _limit_menu(label: str, key: str, settings: Mapping[str, Any] | None) -> Submenu:
    current = as_int(settings, key) if settings is not None else None
    choices = list(LIMIT_CHOICES_KBPS)
    if current is not None and current not in choices:
        choices.append(current)  # a value set elsewhere (CLI, config file) stays visible and selected
    items = tuple(
        Item(limit_label(v) if v in LIMIT_CHOICES_KBPS else f"Custom: {limit_label(v)}",
             Command("settings_set", (key, v)), checked=current == v, radio=True,
             enabled=settings is not None)
        for v in sorted(choices)
    )
    return Submenu(f"{label}: {limit_label(current)}" if current is not None else label, items)


def _toggle(label: str, key: str, settings: Mapping[str, Any] | None) -> Item:
    on = bool(settings.get(key)) if settings is not None else False
    return Item(label, Command("settings_set", (key, not on)), checked=on, enabled=settings is not None)


def _folder_pause(folder: Mapping[str, Any], names: Mapping[str, str]) -> Item:
    """A check item per folder: ticked while that folder is paused on its own (the daemon keeps it so)."""
    fid = as_str(folder, "id")
    on = folder.get("paused") is True
    return Item(f"“{short(names[fid])}”", Command("resume" if on else "pause", (fid,)), checked=on)


def _settings(snapshot: Snapshot, folders: Sequence[Mapping[str, Any]], names: Mapping[str, str]) -> Submenu:
    s = snapshot.settings
    items: list[Node] = [
        _toggle("Start at login", "start_at_login", s),
        _toggle("Notifications", "notifications", s),
        _limit_menu("Upload limit", "upload_limit_kbps", s),
        _limit_menu("Download limit", "download_limit_kbps", s),
        SEPARATOR,
        Item("Add a folder…", Command("add_folder")),
    ]
    if folders:
        items.append(Submenu("Pause a folder", tuple(_folder_pause(f, names) for f in folders)))
        items.append(Submenu("Remove a folder", tuple(
            Item(f"Stop syncing “{short(names[as_str(f, 'id')])}” (files stay)",
                 Command("remove_folder", (as_str(f, "id"),)))
            for f in folders
        )))
    return Submenu("Settings", tuple(items))


def _extend(items: list[Node], nodes: Iterable[Node | None]) -> None:
    items.extend(n for n in nodes if n is not None)


def build_view(snapshot: Snapshot, now: float, *, click_opens_preferences: bool = False) -> View:
    """The icon, status line and menu for `snapshot`, at wall-clock time `now`.

    `click_opens_preferences`: the backend shows no menu (pystray's Xorg backend), so its click, which runs the
    default item, opens the settings window (where everything the menu offers is) instead of toggling pause."""
    status = snapshot.status
    if not snapshot.connected or status is None:
        line = "Starting Ferry…" if snapshot.starting else "Ferry is not running"
        menu: list[Node] = [Item(line)]
        if snapshot.notice:
            menu.append(Item(short(snapshot.notice, 80)))
        menu += [
            SEPARATOR,
            Item("Start Ferry", Command("start_daemon"), default=True, enabled=not snapshot.starting),
            Item("Open log", Command("open_log")),
            SEPARATOR,
            Item("Quit tray", Command("quit_tray")),
        ]
        return View("offline", line, f"Ferry — {line}", tuple(menu))

    line = status_line(status, max(0.0, now - snapshot.status_time))
    attention = attention_line(status)
    paused = as_str(status, "state") == "paused" or status.get("paused") is True
    folders = folders_of(status)
    names = folder_names(folders)
    menu = [Item(line)]
    _extend(menu, [Item(attention) if attention else None,
                   Item(short(snapshot.notice, 80)) if snapshot.notice else None])
    menu += [
        SEPARATOR,
        Item("Resume syncing", Command("resume"), default=not click_opens_preferences) if paused
        else Item("Pause syncing", Command("pause"), default=not click_opens_preferences),
        SEPARATOR,
    ]
    if folders:
        menu += [Item(f"Open “{short(names[as_str(f, 'id')])}”", Command("open_path", (as_str(f, "local"),)))
                 for f in folders]
    else:
        menu.append(Item("Add a folder to sync…", Command("add_folder")))
    menu.append(Submenu("Recent changes", _recent(snapshot, folders, now)))
    _extend(menu, [_conflicts(snapshot, folders, as_int(status, "conflicts")),
                   _deletions(snapshot, folders, names, as_int(status, "deletions_pending"))])
    menu += [
        SEPARATOR,
        Item("Preferences…", Command("preferences"), default=click_opens_preferences),
        _settings(snapshot, folders, names),
        Item("Open log", Command("open_log")),
        SEPARATOR,
        Item("Quit tray", Command("quit_tray")),
        Item("Quit Ferry", Command("quit_ferry")),
    ]
    title = f"Ferry — {line}" + (f" ({attention})" if attention else "")
    return View(icon_state(snapshot), line, title, tuple(menu))
