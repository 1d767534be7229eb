"""Schema migrations only move forward; a corrupt journal is kept aside and replaced by a fresh one."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ferrysync.daemon.journal import SCHEMA_VERSION, Journal, JournalError
from ferrysync.daemon.journal import schema as journal_schema
from ferrysync.daemon.journal.store import write_refusal
from ferrysync.daemon.model import Kind, LocalEntry


def test_journal_from_migration_1_migrates_up_and_keeps_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    conn = sqlite3.connect(db, isolation_level=None)
    assert journal_schema.migrate(conn, target=1) == 1
    conn.execute("INSERT INTO local VALUES ('f', 'old.txt', 'file', 3, 4, 5, 0, ?, ?, NULL)", (bytes(32), bytes(32)))
    conn.execute("INSERT INTO dirty VALUES ('f', 'old.txt', 1.0)")
    conn.execute("INSERT INTO folder_state (folder_id, cursor) VALUES ('f', 17)")
    conn.close()
    with Journal(db) as j:
        assert j.schema_version == SCHEMA_VERSION > 1
        assert j.get_local("f", "old.txt") == LocalEntry("old.txt", Kind.FILE, 3, 4, 5, False, "00" * 32, ("00" * 32,))
        assert j.dirty_count() == 1
        assert j.get_cursor("f") == 17
        j.add_activity("f", "old.txt", "uploaded")  # tables of later migrations exist
        j.set_last_scan("f", 1.0)
        assert j.needs_rebuild is None


def test_a_failed_migration_leaves_the_previous_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "j.db"
    conn = sqlite3.connect(db, isolation_level=None)
    journal_schema.migrate(conn, target=1)

    def broken(c: sqlite3.Connection) -> None:
        c.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("crash mid-migration")

    monkeypatch.setattr(journal_schema, "MIGRATIONS", (journal_schema.MIGRATIONS[0], broken))
    with pytest.raises(RuntimeError):
        journal_schema.migrate(conn, target=2)
    assert journal_schema.version(conn) == 1
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'").fetchone() is None


def test_journal_from_a_newer_ferry_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(JournalError, match="newer"):
        Journal(db)
    assert db.exists()
    assert not list(tmp_path.glob("*.corrupt-*"))


def _assert_recovered(tmp_path: Path, db: Path, original: bytes) -> None:
    with Journal(db) as j:
        assert j.needs_rebuild is not None
        assert "corrupt" in j.needs_rebuild
        assert j.recovered_from is not None
        assert j.recovered_from.read_bytes() == original
        assert j.schema_version == SCHEMA_VERSION  # a fresh journal, made at the current schema
        assert list(j.iter_tree("f", "local")) == []  # nothing carried over from the damaged file
        assert list(j.iter_tree("f", "synced")) == []
        assert j.get_cursor("f") == 0
        j.put_local("f", LocalEntry("fresh", Kind.DIR))
        j.clear_rebuild()
    with Journal(db) as j:  # the fresh journal is healthy and the flag stays cleared
        assert j.needs_rebuild is None
        assert j.get_local("f", "fresh") is not None
    assert len(list(tmp_path.glob("j.db.corrupt-*"))) == 1


def test_garbage_file_is_moved_aside_and_rebuilt(tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    original = b"this is not a database" * 200
    db.write_bytes(original)
    _assert_recovered(tmp_path, db, original)


def test_damaged_pages_are_detected_by_quick_check(tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    with Journal(db) as j:
        j.put_many("f", "local", [LocalEntry(f"dir/file-{i:06}", Kind.FILE, i, i, i) for i in range(3000)])
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(db.read_bytes())
    page = 4096
    for offset in range(page * 3, len(data) - page, page * 5):  # scribble over interior pages, keep the header
        data[offset + 8 : offset + 200] = b"\xa5" * 192
    db.write_bytes(bytes(data))
    _assert_recovered(tmp_path, db, bytes(data))


def test_a_locked_or_unopenable_journal_is_not_mistaken_for_corruption(tmp_path: Path) -> None:
    db = tmp_path / "missing-dir-is-a-file"
    db.write_text("")
    with pytest.raises((JournalError, OSError)):
        Journal(db / "j.db")
    assert not list(tmp_path.glob("*.corrupt-*"))


class _CommitRefused:
    """The journal's writer connection, whose next COMMIT fails and leaves the transaction open: what SQLite does on
    SQLITE_BUSY, and may do on SQLITE_FULL (a full disk) depending on where the error strikes."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.refuse = True

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        if sql == "COMMIT" and self.refuse:
            self.refuse = False
            full = sqlite3.OperationalError("database or disk is full")
            full.sqlite_errorcode = 13  # SQLITE_FULL, as SQLite's own error carries
            raise full
        return self.conn.execute(sql, params)

    def __getattr__(self, name: str) -> object:
        return getattr(self.conn, name)


def test_a_commit_that_fails_is_rolled_back_and_the_journal_writes_again(tmp_path: Path) -> None:
    """A full disk at a journal commit fails that transaction only: nothing of it is kept, and once there is space
    the journal writes again (left open, the transaction would refuse every later one until the daemon restarts)."""
    with Journal(tmp_path / "j.db") as j:
        writer = j._writer
        j._writer = _CommitRefused(writer)  # type: ignore[assignment]
        with pytest.raises(sqlite3.OperationalError, match="full"), j.transaction():
            j.mark_dirty("f", ["lost.txt"], 1.0)
        assert not writer.in_transaction
        j.mark_dirty("f", ["kept.txt"], 1.0)  # the disk has space again
        j._writer = writer
        assert sorted(d.path for d in j.ready_dirty(2.0, 10, "f")) == ["kept.txt"]


def test_a_disk_that_refuses_journal_writes_is_reported_until_a_row_is_written_again(tmp_path: Path) -> None:
    """What the status shows (`write_trouble`): set by a refusal of the disk, kept while nothing is written (an empty
    transaction proves nothing), cleared by the first row written; a failure that is not the disk's is not one."""
    with Journal(tmp_path / "j.db") as j:
        woken: list[str] = []
        j.when_writable_again(lambda: woken.append("again"))
        j.mark_dirty("f", ["fine.txt"], 1.0)
        assert j.write_trouble is None
        assert woken == [], "nothing to wake while the disk takes writes"
        writer = j._writer
        j._writer = _CommitRefused(writer)  # type: ignore[assignment]
        with pytest.raises(sqlite3.OperationalError), j.transaction():
            j.mark_dirty("f", ["waits.txt"], 1.0)
        j._writer = writer
        trouble = j.write_trouble
        assert trouble is not None
        assert trouble.disk == "is full"
        assert "is full" in trouble.message(j.path)
        assert "nothing is lost" in trouble.message(j.path)
        assert str(tmp_path) in trouble.message(j.path)

        with j.transaction():
            pass
        assert j.write_trouble is trouble, "a transaction that wrote nothing does not say the disk is fine"
        assert woken == []
        j.mark_dirty("f", ["waits.txt"], 1.0)
        assert j.write_trouble is None
        assert woken == ["again"], "whatever backs off after a refusal is woken once"

        with pytest.raises(sqlite3.OperationalError, match="no such table"), j.transaction():
            j._writer.execute("INSERT INTO no_such_table VALUES (1)")
        assert j.write_trouble is None, "a statement's own error is not the disk's"


def test_a_write_refused_past_a_file_size_limit_is_the_disks_refusal(tmp_path: Path) -> None:
    """The end-to-end test provokes a refusing disk with RLIMIT_FSIZE (EFBIG, no privileges needed): SQLite reports
    that as a disk error, which must read as the disk's refusal, not as a bug."""
    exc = sqlite3.OperationalError("disk I/O error")
    exc.sqlite_errorcode = 778  # SQLITE_IOERR_WRITE
    exc.sqlite_errorname = "SQLITE_IOERR_WRITE"
    assert write_refusal(exc) == "cannot be written (a disk error)"
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13
    assert write_refusal(full) == "is full"
    assert write_refusal(OSError("not SQLite's")) is None


def test_the_write_probe_finds_the_disk_taking_writes_again(tmp_path: Path) -> None:
    """What the engine's status loop does every few seconds while the disk refuses: it fails while the disk refuses,
    and its first success clears the trouble and wakes the waiting threads."""
    with Journal(tmp_path / "j.db") as j:
        woken: list[str] = []
        j.when_writable_again(lambda: woken.append("again"))
        writer = j._writer
        refusing = _CommitRefused(writer)
        j._writer = refusing  # type: ignore[assignment]
        assert not j.probe_writes()
        assert j.write_trouble is not None
        assert woken == []
        j._writer = writer
        assert j.probe_writes()
        assert j.write_trouble is None
        assert woken == ["again"]
