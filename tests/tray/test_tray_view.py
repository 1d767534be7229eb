"""The pure state → view logic: what the user reads and can click for every daemon state (no display)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ferrysync.tray.icons import STATES
from ferrysync.tray.view import (
    LIMIT_CHOICES_KBPS,
    Command,
    Item,
    Node,
    Snapshot,
    Submenu,
    View,
    attention_line,
    build_view,
    folder_names,
    icon_state,
    in_folder,
    local_path,
    status_line,
)

NOW = 1_800_000_000.0
DOCS = {"id": "f1", "local": "/home/ann/Docs", "remote": "/Docs", "state": "idle", "message": "Up to date"}
PICS = {"id": "f2", "local": "/home/ann/Pictures", "remote": "/Pictures", "state": "idle", "message": ""}
SETTINGS = {"upload_limit_kbps": 0, "download_limit_kbps": 500, "notifications": True, "start_at_login": False}


def status(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "state": "idle", "message": "Up to date", "pending_up": {"count": 0, "bytes": 0},
        "pending_down": {"count": 0, "bytes": 0}, "transfers": [], "speed_up": 0.0, "speed_down": 0.0,
        "conflicts": 0, "errors": 0, "name_issues": 0, "deletions_pending": 0, "retry_in": None,
        "folders": [DOCS], "last_sync": NOW - 5, "account": None, "server": "https://cloud.example",
        "paused": False, "daemon_version": "0.1.0",
    }
    base.update(fields)
    return base


def view_of(st: dict[str, Any] | None = None, **snap: Any) -> View:
    snap.setdefault("settings", SETTINGS)
    return build_view(Snapshot(connected=True, status=st or status(), status_time=NOW, **snap), NOW)


def walk(nodes: tuple[Node, ...]) -> Iterator[Item | Submenu]:
    for n in nodes:
        if isinstance(n, Item | Submenu):
            yield n
        if isinstance(n, Submenu):
            yield from walk(n.items)


def find(view: View, label: str) -> Item | Submenu:
    for n in walk(view.menu):
        if n.label == label or n.label.startswith(label):
            return n
    raise AssertionError(f"no menu entry {label!r} in {[n.label for n in walk(view.menu)]}")


def item(view: View, label: str) -> Item:
    n = find(view, label)
    assert isinstance(n, Item)
    return n


def sub(view: View, label: str) -> Submenu:
    n = find(view, label)
    assert isinstance(n, Submenu)
    return n


# --- status line ---


@pytest.mark.parametrize(("fields", "line"), [
    ({"state": "idle"}, "Up to date"),
    ({"state": "syncing", "pending_up": {"count": 7, "bytes": 1}, "pending_down": {"count": 5, "bytes": 1},
      "speed_up": 3_000_000.0, "speed_down": 400_000.0}, "Syncing 12 files — 3.4 MB/s"),
    ({"state": "syncing", "pending_up": {"count": 1, "bytes": 9}}, "Syncing 1 file"),
    ({"state": "syncing", "transfers": [{"path": "a"}, {"path": "b"}], "speed_down": 850_000.0},
     "Syncing 2 files — 850 kB/s"),
    ({"state": "syncing"}, "Syncing…"),
    ({"state": "syncing", "pending_up": {"count": 3}, "speed_up": 25_000_000.0}, "Syncing 3 files — 25 MB/s"),
    ({"state": "paused", "paused": True}, "Paused"),
    ({"state": "offline", "retry_in": 20.0}, "Offline — retrying in 20 s"),
    ({"state": "offline", "retry_in": 19.2}, "Offline — retrying in 20 s"),
    ({"state": "offline", "retry_in": 0.0}, "Offline — retrying now"),
    ({"state": "offline", "retry_in": None}, "Offline"),
    ({"state": "error", "message": "The folder /home/ann/Docs is missing (disk unmounted?)"},
     "The folder /home/ann/Docs is missing (disk unmounted?)"),
    ({"state": "error", "message": ""}, "Sync error"),
    ({"state": "migrating", "message": "Upgrading the journal"}, "Upgrading the journal"),
    ({"state": "migrating", "message": ""}, "State: migrating"),
])
def test_status_line_says_what_the_daemon_is_doing(fields: dict[str, Any], line: str) -> None:
    assert status_line(status(**fields)) == line


def test_offline_countdown_follows_the_clock() -> None:
    st = status(state="offline", retry_in=20.0)
    assert status_line(st, elapsed=0) == "Offline — retrying in 20 s"
    assert status_line(st, elapsed=12.5) == "Offline — retrying in 8 s"
    assert status_line(st, elapsed=25) == "Offline — retrying now"
    snap = Snapshot(connected=True, status=st, status_time=NOW)
    assert build_view(snap, NOW + 5).status_line == "Offline — retrying in 15 s"


@pytest.mark.parametrize("garbage", [
    {"state": "syncing", "pending_up": "many", "speed_up": "fast", "transfers": "x"},
    {"state": "offline", "retry_in": "soon"},
    {"state": "offline", "retry_in": float("nan")},
    {"state": 3, "message": None},
    {"conflicts": "two", "deletions_pending": None, "errors": True, "folders": "none"},
    {"folders": [{"id": 1}, "x", {"local": "/a"}]},
])
def test_malformed_status_fields_never_break_the_menu(garbage: dict[str, Any]) -> None:
    view = view_of(status(**garbage))
    assert view.icon in STATES
    assert view.status_line
    assert isinstance(view.menu[0], Item)


# --- icon state ---


@pytest.mark.parametrize(("fields", "icon"), [
    ({"state": "idle"}, "idle"),
    ({"state": "syncing"}, "syncing"),
    ({"state": "paused"}, "paused"),
    ({"state": "offline"}, "offline"),
    ({"state": "error"}, "error"),
    ({"state": "idle", "conflicts": 1}, "attention"),
    ({"state": "syncing", "deletions_pending": 40}, "attention"),
    ({"state": "idle", "errors": 2}, "attention"),
    ({"state": "idle", "name_issues": 1}, "attention"),
    ({"state": "paused", "conflicts": 3}, "paused"),  # the user paused: say so, the count is in the menu
    ({"state": "error", "conflicts": 3}, "error"),  # a stopped folder outranks waiting conflicts
    ({"state": "offline", "deletions_pending": 3}, "offline"),
    ({"state": "something-new"}, "attention"),
])
def test_icon_state(fields: dict[str, Any], icon: str) -> None:
    assert icon_state(Snapshot(connected=True, status=status(**fields))) == icon
    assert view_of(status(**fields)).icon == icon


def test_every_icon_state_is_reachable() -> None:
    reached = {icon_state(Snapshot(connected=True, status=status(state=s))) for s in
               ("idle", "syncing", "paused", "offline", "error")}
    reached.add(icon_state(Snapshot(connected=True, status=status(conflicts=1))))
    assert reached == set(STATES)


def test_attention_line_counts_what_waits() -> None:
    st = status(conflicts=2, deletions_pending=40, errors=1, name_issues=3)
    assert attention_line(st) == ("2 conflicts · 40 deletions waiting · 1 file could not sync · "
                                  "3 names not allowed here")
    assert attention_line(status()) == ""
    view = view_of(st)
    assert view.menu[1] == Item("2 conflicts · 40 deletions waiting · 1 file could not sync · "
                                "3 names not allowed here")
    assert "2 conflicts" in view.title


# --- daemon absent ---


def test_daemon_not_running_offers_to_start_it() -> None:
    view = build_view(Snapshot(connected=False), NOW)
    assert view.icon == "offline"
    assert view.status_line == "Ferry is not running"
    assert view.default == Command("start_daemon")
    labels = [n.label for n in walk(view.menu)]
    assert labels == ["Ferry is not running", "Start Ferry", "Open log", "Quit tray"]
    assert not any(n.label.startswith(("Pause", "Quit Ferry", "Settings")) for n in walk(view.menu))


def test_starting_disables_start_and_says_so() -> None:
    view = build_view(Snapshot(connected=False, starting=True), NOW)
    assert view.status_line == "Starting Ferry…"
    assert not item(view, "Start Ferry").active
    assert view.default is None


def test_connected_without_status_yet_counts_as_absent() -> None:
    assert build_view(Snapshot(connected=True, status=None), NOW).icon == "offline"


def test_notice_is_shown_under_the_status_line() -> None:
    view = view_of(notice="Could not pause: the daemon is busy")
    assert Item("Could not pause: the daemon is busy") in view.menu
    away = build_view(Snapshot(notice="Ferry did not start within 30 s — see the log"), NOW)
    assert away.menu[1] == Item("Ferry did not start within 30 s — see the log")


# --- pause / resume ---


def test_pause_is_the_default_action_while_running() -> None:
    view = view_of()
    assert item(view, "Pause syncing").default
    assert view.default == Command("pause")


def test_resume_when_paused() -> None:
    view = view_of(status(state="paused", paused=True))
    assert view.default == Command("resume")
    assert item(view, "Resume syncing").default
    assert not any(n.label == "Pause syncing" for n in walk(view.menu))


# --- folders ---


def test_each_folder_can_be_opened() -> None:
    view = view_of(status(folders=[DOCS, PICS]))
    assert item(view, "Open “Docs”").command == Command("open_path", ("/home/ann/Docs",))
    assert item(view, "Open “Pictures”").command == Command("open_path", ("/home/ann/Pictures",))


def test_folders_with_the_same_name_show_their_paths() -> None:
    other = {"id": "f3", "local": "/mnt/usb/Docs", "remote": "/Docs2"}
    assert folder_names([DOCS, other]) == {"f1": "/home/ann/Docs", "f3": "/mnt/usb/Docs"}
    view = view_of(status(folders=[DOCS, other]))
    assert item(view, "Open “/mnt/usb/Docs”").active


def test_no_folders_invites_to_add_one() -> None:
    view = view_of(status(folders=[]))
    assert item(view, "Add a folder to sync…").command == Command("add_folder")
    assert not any(n.label == "Remove a folder" for n in walk(view.menu))


def test_local_path_joins_safely() -> None:
    assert local_path([DOCS], "f1", "a/b.txt") == "/home/ann/Docs/a/b.txt"
    assert local_path([DOCS], "f1", "../../etc/passwd") == "/home/ann/Docs/etc/passwd"
    windows = [{"id": "w", "local": "C:\\Users\\ann\\Docs"}]
    assert local_path(windows, "w", "a/b.txt") == "C:\\Users\\ann\\Docs\\a\\b.txt"
    assert local_path([DOCS], "nope", "a") is None


# --- recent changes ---


def test_recent_changes_open_the_file() -> None:
    activity = [
        {"time": NOW - 30, "folder_id": "f1", "path": "reports/q3.pdf", "direction": "down", "action": "download",
         "size": 10},
        {"time": NOW - 600, "folder_id": "f1", "path": "notes.txt", "direction": "up", "action": "upload", "size": 1},
        {"time": NOW - 700, "folder_id": "f1", "path": "old.txt", "direction": "local", "action": "delete_local",
         "size": 0},
        {"time": NOW - 800, "folder_id": "f1", "path": "notes.txt", "direction": "up", "action": "upload", "size": 1},
        {"time": NOW - 900, "folder_id": "gone", "path": "x.txt", "direction": "up", "action": "upload", "size": 1},
    ]
    recent = sub(view_of(activity=activity), "Recent changes")
    labels = [n.label for n in recent.items if isinstance(n, Item)]
    assert labels == ["↓ q3.pdf — just now", "↑ notes.txt — 10 min ago", "• old.txt — 11 min ago (deleted)",
                      "↑ x.txt — 15 min ago"]
    first = recent.items[0]
    assert isinstance(first, Item)
    assert first.command == Command("open_path", ("/home/ann/Docs/reports/q3.pdf",))
    assert not item(view_of(activity=activity), "• old.txt").active  # deleted: nothing to open
    assert not item(view_of(activity=activity), "↑ x.txt").active  # folder no longer synced


def test_recent_changes_are_capped_and_empty_is_said() -> None:
    many = [{"time": NOW, "folder_id": "f1", "path": f"f{i}.txt", "direction": "up", "action": "upload"}
            for i in range(40)]
    assert len(sub(view_of(activity=many), "Recent changes").items) == 10
    assert sub(view_of(), "Recent changes").items == (Item("No recent changes"),)


# --- conflicts and deletions ---


def test_conflicts_submenu_opens_each_copy() -> None:
    conflicts = [{"folder_id": "f1", "path": "a (conflicted copy from HOST 2026-11-26 142501).txt",
                  "original": "a.txt", "time": NOW}]
    view = view_of(status(conflicts=1), conflicts=conflicts)
    menu = sub(view, "Conflicts (1)")
    assert menu.items == (Item("a (conflicted copy from HOST 2026-11-26 142501).txt", Command(
        "open_path", ("/home/ann/Docs/a (conflicted copy from HOST 2026-11-26 142501).txt",))),)
    assert not any(n.label.startswith("Conflicts") for n in walk(view_of().menu))


def test_conflict_count_before_the_list_arrives() -> None:
    assert sub(view_of(status(conflicts=4)), "Conflicts (4)").items == (Item("Loading…"),)


def test_deletions_waiting_can_be_approved_or_rejected() -> None:
    pending = [{"folder_id": "f1", "path": f"old/{i}.txt", "side": "remote"} for i in range(14)]
    view = view_of(status(deletions_pending=14), deletions=pending)
    menu = sub(view, "Deletions waiting (14)")
    labels = [n.label for n in menu.items if isinstance(n, Item)]
    assert labels[:2] == ["old/0.txt", "old/1.txt"]
    assert "…and 4 more" in labels
    assert item(view, "Approve all deletions").command == Command("deletions_approve", ())
    assert item(view, "Keep all files (reject)").command == Command("deletions_reject", ())


def test_deletions_are_listed_as_paths_inside_their_folder() -> None:
    """The daemon answers with absolute local paths: the menu shows them as the user knows them."""
    pending = [{"folder_id": "f1", "path": f"/home/ann/Docs/old/{i}.txt", "side": "local"} for i in range(2)]
    view = view_of(status(deletions_pending=2), deletions=pending)
    labels = [n.label for n in sub(view, "Deletions waiting (2)").items if isinstance(n, Item)]
    assert labels[:2] == ["old/0.txt", "old/1.txt"]

    both = [{"folder_id": "f1", "path": "/home/ann/Docs/a.txt", "side": "local"},
            {"folder_id": "f2", "path": "/home/ann/Pictures/b.jpg", "side": "remote"}]
    view = view_of(status(folders=[DOCS, PICS], deletions_pending=2), deletions=both)
    labels = [n.label for n in sub(view, "Deletions waiting (2)").items if isinstance(n, Item)]
    assert labels[:2] == ["Docs/a.txt", "Pictures/b.jpg"]


@pytest.mark.parametrize(("root", "path", "shown"), [
    ("/home/ann/Docs", "/home/ann/Docs/sub/a.txt", "sub/a.txt"),
    ("/home/ann/Docs/", "/home/ann/Docs/a.txt", "a.txt"),
    ("C:\\Users\\ann\\Docs", "C:\\Users\\ann\\Docs\\sub\\a.txt", "sub/a.txt"),
    ("/home/ann/Docs", "/home/ann/Docs2/a.txt", "/home/ann/Docs2/a.txt"),  # a sibling, not inside
    ("/home/ann/Docs", "old/a.txt", "old/a.txt"),  # an older daemon's relative path
])
def test_in_folder(root: str, path: str, shown: str) -> None:
    assert in_folder([{**DOCS, "local": root}], "f1", path) == shown
    assert in_folder([DOCS], "nope", path) == path


def test_deletions_in_several_folders_can_be_settled_per_folder() -> None:
    pending = [{"folder_id": "f1", "path": "a", "side": "local"}, {"folder_id": "f2", "path": "b", "side": "remote"}]
    view = view_of(status(folders=[DOCS, PICS], deletions_pending=2), deletions=pending)
    per_folder = sub(view, "In “Pictures”")
    assert per_folder.items[0] == Item("Approve deletions", Command("deletions_approve", ("f2",)))
    assert per_folder.items[1] == Item("Keep the files (reject)", Command("deletions_reject", ("f2",)))


# --- settings ---


def test_settings_reflect_the_daemon() -> None:
    view = view_of()
    login = item(view, "Start at login")
    assert login.checked is False
    assert login.command == Command("settings_set", ("start_at_login", True))
    notes = item(view, "Notifications")
    assert notes.checked is True
    assert notes.command == Command("settings_set", ("notifications", False))
    up = sub(view, "Upload limit")
    assert up.label == "Upload limit: Unlimited"
    assert [n.label for n in up.items if isinstance(n, Item)] == [
        "Unlimited", "100 kB/s", "500 kB/s", "1 MB/s", "2 MB/s", "5 MB/s", "10 MB/s"]
    down = sub(view, "Download limit")
    assert down.label == "Download limit: 500 kB/s"
    checked = [n for n in down.items if isinstance(n, Item) and n.checked]
    assert checked == [Item("500 kB/s", Command("settings_set", ("download_limit_kbps", 500)), checked=True,
                            radio=True)]
    assert all(isinstance(n, Item) and n.radio for n in down.items)
    assert len(up.items) == len(LIMIT_CHOICES_KBPS)


def test_a_custom_limit_stays_visible() -> None:
    view = view_of(settings={**SETTINGS, "upload_limit_kbps": 750})
    up = sub(view, "Upload limit")
    assert up.label == "Upload limit: 750 kB/s"
    assert Item("Custom: 750 kB/s", Command("settings_set", ("upload_limit_kbps", 750)), checked=True,
                radio=True) in up.items


def test_settings_wait_for_the_daemon() -> None:
    view = view_of(settings=None)
    assert not item(view, "Start at login").active
    assert not any(isinstance(n, Item) and n.active for n in sub(view, "Upload limit").items)
    assert item(view, "Add a folder…").active  # needs no settings


def test_folders_can_be_added_and_removed() -> None:
    view = view_of(status(folders=[DOCS, PICS]))
    assert item(view, "Add a folder…").command == Command("add_folder")
    remove = sub(view, "Remove a folder")
    assert [n.command for n in remove.items if isinstance(n, Item)] == [
        Command("remove_folder", ("f1",)), Command("remove_folder", ("f2",))]
    assert isinstance(remove.items[0], Item)
    assert remove.items[0].label == "Stop syncing “Docs” (files stay)"


# --- the rest of the menu ---


def test_log_and_quit_entries() -> None:
    view = view_of()
    assert item(view, "Open log").command == Command("open_log")
    assert item(view, "Quit tray").command == Command("quit_tray")
    assert item(view, "Quit Ferry").command == Command("quit_ferry")


def test_status_line_is_informational_and_first() -> None:
    view = view_of(status(state="syncing", pending_up={"count": 2}, speed_up=1500.0))
    assert view.menu[0] == Item("Syncing 2 files — 1.5 kB/s")
    assert not view.menu[0].active
    assert view.title == "Ferry — Syncing 2 files — 1.5 kB/s"


def test_long_names_are_shortened_in_the_middle() -> None:
    name = "a" * 50 + "MIDDLE" + "z" * 50 + ".txt"
    conflicts = [{"folder_id": "f1", "path": name, "original": "x", "time": NOW}]
    label = sub(view_of(status(conflicts=1), conflicts=conflicts), "Conflicts").items[0]
    assert isinstance(label, Item)
    assert len(label.label) == 60
    assert label.label.startswith("aaa")
    assert label.label.endswith("zz.txt")
    assert "…" in label.label


def test_digest_changes_with_the_menu() -> None:
    assert view_of().digest == view_of().digest
    assert view_of().digest != view_of(status(state="paused")).digest


def test_one_folder_can_be_paused_and_resumed_from_settings() -> None:
    """A check item per folder, ticked while that folder is paused on its own; the click asks for the other."""
    paused_pics = {**PICS, "paused": True, "state": "paused"}
    view = view_of(status(folders=[DOCS, paused_pics]))
    pause = sub(view, "Pause a folder")
    items = [n for n in pause.items if isinstance(n, Item)]
    assert [(n.label, n.checked, n.command) for n in items] == [
        ("“Docs”", False, Command("pause", ("f1",))), ("“Pictures”", True, Command("resume", ("f2",)))]


def test_preferences_item_and_what_a_click_does() -> None:
    """With a menu the click pauses; pystray's Xorg backend shows no menu, so there its click opens the window."""
    menu_view = view_of()
    prefs = find(menu_view, "Preferences…")
    assert isinstance(prefs, Item)
    assert prefs.command == Command("preferences")
    assert menu_view.default == Command("pause")
    bare = build_view(Snapshot(connected=True, status=status(), status_time=NOW, settings=SETTINGS), NOW,
                      click_opens_preferences=True)
    assert bare.default == Command("preferences")
    offline = build_view(Snapshot(connected=False), NOW, click_opens_preferences=True)
    assert offline.default == Command("start_daemon"), "without a daemon there is no window: the click starts it"
