"""The mass-deletion hold's bookkeeping (engine/deletion_hold.py): what counts against the threshold, and when.

The threshold itself is the planner's (test_planner_batch.py); the whole story, a wipe held until the user
approves or rejects it, runs against real daemons in tests/e2e/test_control_cli.py.
"""

from __future__ import annotations

from ferrysync.daemon.config import Settings
from ferrysync.daemon.engine.deletion_hold import DELETION_WINDOW_S, DeletionHold
from ferrysync.daemon.model import Kind
from ferrysync.daemon.planner import NO_THRESHOLD, DeleteRemote

SETTINGS = Settings(delete_threshold_count=50, delete_threshold_ratio=0.5)


def _deletes(*paths: str) -> list[DeleteRemote]:
    return [DeleteRemote(p, 1, Kind.FILE) for p in paths]


def test_deletions_made_lately_count_with_the_next_rounds_until_the_window_passes() -> None:
    hold = DeletionHold()
    hold.done(now=100.0, deleted=30, approved=False)
    hold.done(now=110.0, deleted=15, approved=False)
    threshold, approved = hold.threshold(SETTINGS, {}, now=110.0 + DELETION_WINDOW_S - 1)
    assert not approved
    assert threshold.recently_deleted == 15  # the first round's 30 are out of the window; the second's still in
    assert (threshold.max_files, threshold.max_ratio) == (50, 0.5)  # the user's settings
    threshold, _ = hold.threshold(SETTINGS, {}, now=110.0 + DELETION_WINDOW_S)
    assert threshold.recently_deleted == 0


def test_deletions_waiting_for_approval_count_unless_this_round_plans_them_again() -> None:
    hold = DeletionHold()
    assert hold.planned(_deletes("a", "b", "c"), rows=["a", "b", "c"])  # newly held: the user is told
    assert not hold.planned(_deletes("a"), rows=["a"])  # the same deletion held again: told once
    threshold, _ = hold.threshold(SETTINGS, {"a"}, now=0.0)
    assert threshold.waiting == 2  # b and c wait; a is in this round's rows and counts there


def test_an_approval_runs_once_without_a_threshold_and_does_not_count_against_what_comes_next() -> None:
    hold = DeletionHold()
    hold.done(now=0.0, deleted=40, approved=False)
    hold.planned(_deletes("x", "y"), rows=["x", "y"])
    assert sorted(hold.approve()) == ["x", "y"]  # planned again at once
    threshold, approved = hold.threshold(SETTINGS, {"x", "y"}, now=1.0)
    assert (threshold, approved) == (NO_THRESHOLD, True)
    hold.done(now=1.0, deleted=2, approved=True)
    hold.planned([], rows=["x", "y"])  # planned without a hold: no longer waiting
    assert hold.held == {}
    threshold, approved = hold.threshold(SETTINGS, set(), now=2.0)
    assert not approved
    assert threshold.recently_deleted == 0  # neither the approved deletions nor the earlier 40 count


def test_a_rejection_hands_back_what_was_held_and_holds_nothing_more() -> None:
    hold = DeletionHold()
    hold.planned(_deletes("keep/1", "keep/2"), rows=["keep/1", "keep/2"])
    assert sorted(hold.reject()) == ["keep/1", "keep/2"]
    assert hold.held == {}
    assert hold.planned(_deletes("keep/1"), rows=["keep/1"])  # held anew if the planner holds it again
