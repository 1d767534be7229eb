"""A feed page is applied from one read and one write per kind (remote/feed.py `_apply`): the remote tree and
the paths handed to the planner must be what applying its entries one by one, in order, gives."""

from __future__ import annotations

from dataclasses import replace

from ferrysync.daemon.journal import Journal
from ferrysync.daemon.model import Kind, RemoteEntry
from ferrysync.daemon.remote.feed import FeedReader
from ferrysync.daemon.remote.types import FeedEntry

FID = "f1"


def _file(name: str, rev: int) -> RemoteEntry:
    return RemoteEntry(name, Kind.FILE, f"id-{name}", rev, rev, rev)


def _put(name: str, seq: int) -> FeedEntry:
    return FeedEntry(_file(f"Docs/{name}", seq), seq)


def _gone(name: str, seq: int) -> FeedEntry:
    return FeedEntry(_file(f"Docs/{name}", seq), seq, deleted=True)


def test_a_page_applies_as_its_entries_in_order(journal: Journal) -> None:
    for name, rev in (("c.txt", 3), ("d.txt", 9), ("f.txt", 2)):
        journal.put_remote(FID, _file(name, rev))
    feed = FeedReader(journal, FID, "Docs", None, on_changes=lambda _: None,  # type: ignore[arg-type]
                      on_state=lambda: None)
    page = (
        _put("a.txt", 5), _gone("a.txt", 6),  # created then deleted within the page: no row left
        _put("b.txt", 7),
        _gone("c.txt", 8),  # a known row deleted
        _put("d.txt", 4),  # older than what the executor recorded already: skipped
        _put("e.txt", 10), _put("e.txt", 11),  # twice: the newer wins
        _gone("x.txt", 12),  # never known here: nothing to delete, not handed over
        _gone("f.txt", 13), _put("f.txt", 14),  # deleted then created again
        FeedEntry(_file("Other/z.txt", 15), 15),  # outside this folder: never stored
    )
    touched = feed._apply(page, cursor=15)
    assert touched == ["a.txt", "a.txt", "b.txt", "c.txt", "e.txt", "e.txt", "f.txt", "f.txt"]
    tree = {e.path: e for e in journal.iter_tree(FID, "remote") if isinstance(e, RemoteEntry)}
    assert sorted(tree) == ["b.txt", "d.txt", "e.txt", "f.txt"]
    assert (tree["b.txt"].rev, tree["d.txt"].rev, tree["e.txt"].rev, tree["f.txt"].rev) == (7, 9, 11, 14)
    assert journal.get_cursor(FID) == 15


def test_the_devices_own_commits_read_back_change_nothing_and_plan_nothing(journal: Journal) -> None:
    """After an upload the executor records the server's answer as the remote row; the feed then brings the same
    entry back. Handed to the planner again, every file of a 10,000-file upload was planned twice."""
    mine = _put("mine.txt", 7)
    journal.put_remote(FID, replace(mine.entry, path="mine.txt"))  # what the executor recorded from its commit
    journal.put_remote(FID, _file("theirs.txt", 3))
    feed = FeedReader(journal, FID, "Docs", None, on_changes=lambda _: None,  # type: ignore[arg-type]
                      on_state=lambda: None)
    edited = RemoteEntry("Docs/theirs.txt", Kind.FILE, "id-theirs.txt", 8, 99, 8)
    touched = feed._apply((mine, FeedEntry(edited, 8)), cursor=8)
    assert touched == ["theirs.txt"]  # another device's edit is planned; the device's own commit is not
    assert journal.get_remote(FID, "theirs.txt") == RemoteEntry("theirs.txt", Kind.FILE, "id-theirs.txt", 8, 99, 8)
    assert journal.get_remote(FID, "mine.txt") == replace(mine.entry, path="mine.txt")
    assert journal.get_cursor(FID) == 8
