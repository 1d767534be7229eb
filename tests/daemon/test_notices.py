"""What a sync round tells the user: one notification per kept copy, failure, trashed save and refusal."""

from __future__ import annotations

from ferrysync.daemon.engine.executor import BatchResult
from ferrysync.daemon.engine.notices import notices


def test_each_outcome_a_user_must_hear_of_gets_its_notification() -> None:
    result = BatchResult(conflicts=["a (conflicted copy).txt"], failed={"b.txt": "disk full"},
                         trashed=["d/e.txt"], refused=["s/f.txt"])
    said = notices(result)
    assert [(title, kind) for title, _, kind in said] == [
        ("Conflicting edits", "conflict"), ("Ferry could not sync a file", "error"),
        ("A save was kept in the trash", "conflict"), ("Read-only shared folder", "error")]
    assert "d/e.txt" in said[2][1]
    assert "ferry trash list" in said[2][1]
    assert notices(BatchResult(replan={"x"}, done=1)) == [], "a quiet round says nothing"
