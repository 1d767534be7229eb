"""A save made after an upload whose answer was never recorded is an edit of that upload, not a conflict with it.

Found by tests/e2e/test_journal_disk_refuses.py in a loaded CI run: the desktop's daemon uploaded `b/file-3.bin`
and was killed with -9 after the server committed it and before the journal recorded the answer. The user saved
the file again meanwhile; at the restart the journal's merge base was the version before the upload, the server
held the upload and the disk the new save, so the planner kept the save as a conflicted copy of an upload nobody
else had touched. An answer lost on the network, or refused by a full journal, does the same. Now the executor
notes each commit in the journal before sending it, and the folder settles a note left behind against what the
server shows (engine/write_notes.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
import requests
from lost_records import T, files, rename, save
from simdevice import PREFIX, Crash, Device
from simworld import Simulation


def _at_commit(sim: Simulation, monkeypatch: pytest.MonkeyPatch, device: Device, stage: str,
               fault: Callable[[], None]) -> list[bool]:
    """Run `fault` once, when `device`'s commit request is about to go ("before") or has been answered by the
    server ("after"); the list returned gets True when it ran."""
    fired: list[bool] = []
    inject = sim._inject

    def hook(d: Any, op: str, at: str, what: str, rel: Any) -> None:
        if d is device and (op, at, what) == ("http", stage, "POST /v1/commit") and not fired:
            fired.append(True)
            fault()
            return
        inject(d, op, at, what, rel)

    monkeypatch.setattr(sim, "_inject", hook)
    return fired


def _kill(what: str) -> Callable[[], None]:
    def fault() -> None:
        raise Crash(what)
    return fault


def _journal_full() -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError("database or disk is full")
    exc.sqlite_errorcode = 13  # SQLITE_FULL
    return exc


@pytest.mark.parametrize("how", ["daemon killed", "answer lost on the network", "journal refused the record"])
def test_a_save_after_an_upload_whose_answer_was_lost_is_an_edit_of_it(
        sim: Simulation, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    amy, ben = sim.devices
    save(amy, "notes.txt", b"amy's first version", T)
    sim.settle()
    save(amy, "notes.txt", b"amy's second version", T + 10**9)

    refusing: list[bool] = []

    def fault() -> None:  # the server committed the upload; its answer never reaches the journal
        if how == "daemon killed":
            raise Crash("amy killed after the server committed")
        if how == "answer lost on the network":
            raise requests.ConnectionError("simulated: the answer is lost on its way back")
        refusing.append(True)

    fired = _at_commit(sim, monkeypatch, amy, "after", fault)

    def journal_commit(device: Device) -> None:
        if device is amy and refusing:
            raise _journal_full()

    monkeypatch.setattr(sim, "journal_commit", journal_commit)
    with sim.acting(amy):
        amy.turn()
    assert fired
    assert sim.cloud.live_files(PREFIX)["notes.txt"] == b"amy's second version", "the server has the upload"
    synced = amy.journal.get_synced(amy.cfg.id, "notes.txt")
    assert synced is not None
    remote = amy.journal.get_remote(amy.cfg.id, "notes.txt")
    assert remote is not None
    assert synced.rev == remote.rev, "the answer was not recorded"
    refusing.clear()  # the disk takes writes again

    save(amy, "notes.txt", b"amy's third version", T + 2 * 10**9)  # before amy's engine hears of the upload
    sim.settle()

    for d in (amy, ben):
        seen = files(d)
        assert [p for p in seen if "conflicted copy" in p] == [], f"{d.name}: nobody else edited notes.txt"
        assert seen == {"notes.txt": b"amy's third version"}
    assert b"amy's second version" in sim.cloud.every_version(), "the upload stays a revision on the server"


def test_an_edit_from_another_device_on_top_of_the_lost_upload_is_still_a_conflict(
        sim: Simulation, monkeypatch: pytest.MonkeyPatch) -> None:
    """The note settles only this device's own upload: ben edited the file after it, and amy saved again without
    seeing ben's edit, so both saves are kept (one as a conflicted copy), and amy's upload stays a revision."""
    amy, ben = sim.devices
    save(amy, "notes.txt", b"amy's first version", T)
    sim.settle()
    save(amy, "notes.txt", b"amy's second version", T + 10**9)
    fired = _at_commit(sim, monkeypatch, amy, "after", _kill("amy killed after the server committed"))
    with sim.acting(amy):
        amy.turn()
    assert fired
    with sim.acting(ben):
        ben.turn()  # ben gets amy's second version...
    assert files(ben) == {"notes.txt": b"amy's second version"}
    save(ben, "notes.txt", b"ben's edit", T + 2 * 10**9)
    with sim.acting(ben):
        ben.turn()  # ...and edits it
    save(amy, "notes.txt", b"amy's third version", T + 3 * 10**9)
    sim.settle()
    for d in (amy, ben):
        assert sorted(files(d).values()) == [b"amy's third version", b"ben's edit"], d.name
    assert b"amy's second version" in sim.cloud.every_version()


def test_a_save_after_a_move_whose_answer_was_lost_is_an_edit_of_it(
        sim: Simulation, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same for a rename: killed after the server moved the file, the user edits it under its new name."""
    amy, ben = sim.devices
    save(amy, "draft.txt", b"amy's text", T)
    sim.settle()
    fired = _at_commit(sim, monkeypatch, amy, "after", _kill("amy killed after the server moved the file"))
    rename(sim, amy, "draft.txt", "final.txt", lambda: bool(fired))
    assert fired
    assert sim.cloud.live_files(PREFIX) == {"final.txt": b"amy's text"}, "the server moved it"
    assert amy.journal.get_synced(amy.cfg.id, "final.txt") is None, "the answer was not recorded"

    save(amy, "final.txt", b"amy's text, edited", T + 10**9)
    sim.settle()
    for d in (amy, ben):
        assert files(d) == {"final.txt": b"amy's text, edited"}, f"{d.name}: nobody else edited final.txt"


def test_a_save_after_a_folder_move_whose_answer_was_lost_is_an_edit_of_it(
        sim: Simulation, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same for a folder's rename: every file inside is noted under its new name."""
    amy, ben = sim.devices
    save(amy, "docs/a.txt", b"amy's a", T)
    save(amy, "docs/sub/b.txt", b"amy's b", T + 1)
    amy.events += ["docs", "docs/sub"]
    sim.settle()
    fired = _at_commit(sim, monkeypatch, amy, "after", _kill("amy killed after the server moved the folder"))
    rename(sim, amy, "docs", "papers", lambda: bool(fired))
    assert fired
    assert {p: b for p, b in sim.cloud.live_files(PREFIX).items() if b is not None} == {
        "papers/a.txt": b"amy's a", "papers/sub/b.txt": b"amy's b"}, "the server moved it"
    assert amy.journal.get_synced(amy.cfg.id, "papers/a.txt") is None, "the answer was not recorded"

    save(amy, "papers/a.txt", b"amy's a, edited", T + 10**9)
    save(amy, "papers/sub/b.txt", b"amy's b, edited", T + 10**9 + 1)
    sim.settle()
    for d in (amy, ben):
        assert files(d) == {"papers/a.txt": b"amy's a, edited", "papers/sub/b.txt": b"amy's b, edited"}, d.name


def test_a_commit_that_never_reached_the_server_leaves_no_note_behind(
        sim: Simulation, monkeypatch: pytest.MonkeyPatch) -> None:
    """The network drops before the server saw the commit: the note waits for the feed, then goes; the file is sent
    again and no note stays in the journal."""
    amy, _ = sim.devices
    save(amy, "a.txt", b"first", T)
    sim.settle()
    save(amy, "a.txt", b"second", T + 10**9)

    def fault() -> None:
        raise requests.ConnectionError("simulated: the network drops before the commit")

    fired = _at_commit(sim, monkeypatch, amy, "before", fault)
    with sim.acting(amy):
        amy.turn()
    assert fired
    assert sim.cloud.live_files(PREFIX)["a.txt"] == b"first"
    assert amy.journal.meta_with_prefix(f"commit:{amy.cfg.id}:"), "the note of the commit that failed"
    sim.settle()
    assert sim.cloud.live_files(PREFIX)["a.txt"] == b"second"
    assert amy.journal.meta_with_prefix(f"commit:{amy.cfg.id}:") == {}


def test_a_journal_without_notes_is_looked_at_once_after_a_start(sim: Simulation) -> None:
    """Settling costs nothing while no write failed: one look at the journal for each kind of note after a start,
    none after (amy's commits of uploads, ben's landings of downloads)."""
    amy, ben = sim.devices
    looks: list[str] = []
    for d in (amy, ben):
        meta = d.journal.meta_with_prefix

        def counting(prefix: str, meta: Callable[[str], dict[str, str]] = meta) -> dict[str, str]:
            looks.append(prefix)
            return meta(prefix)

        d.journal.meta_with_prefix = counting  # type: ignore[method-assign]
    for n in range(3):
        save(amy, f"f{n}.txt", b"x" * n, T + n)
        for d in (amy, ben, ben):
            with sim.acting(d):
                d.turn()
    assert (ben.root / "f2.txt").read_bytes() == b"xx"
    assert sorted(looks) == sorted(f"{kind}:{d.cfg.id}:" for kind in ("commit", "landing") for d in (amy, ben))
