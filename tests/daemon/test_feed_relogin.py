"""After a new login the feed lists the server again and tells a replaced server from the same one.

A replaced (empty, or other) server must never look like a server where every file was deleted; the same server
must never look like a new one (that would take a newer remote edit for an older one and upload over it).
"""

from __future__ import annotations

import contextlib
import hashlib

from ferrysync.daemon.journal import Journal
from ferrysync.daemon.model import Kind, RemoteEntry, SyncedEntry
from ferrysync.daemon.remote.feed import FeedReader, relist_key, request_relist
from ferrysync.daemon.remote.types import ChangesPage, FeedEntry

FID = "f1"


class Server:
    """Just enough of RemoteClient for the feed's listing: the change feed, every entry at its last seq."""

    def __init__(self, entries: list[FeedEntry]) -> None:
        self.entries = entries

    def changes(self, cursor: int, limit: int = 1000) -> ChangesPage:
        rest = [e for e in self.entries if e.seq > cursor]
        page = rest[:limit]
        return ChangesPage(tuple(page), page[-1].seq if page else max([cursor, *(e.seq for e in self.entries)]),
                           len(rest) > limit)


def digest(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def entry(path: str, file_id: str, seq: int, content: str = "x", deleted: bool = False) -> FeedEntry:
    return FeedEntry(RemoteEntry(f"Docs/{path}", Kind.FILE, file_id, seq, 1, 10, content_hash=digest(content)),
                     seq, deleted)


def synced(journal: Journal, path: str, file_id: str, rev: int, content: str = "x") -> None:
    h = digest(content)
    journal.put_synced(FID, SyncedEntry(path, Kind.FILE, file_id, rev, 1, 10, 5, content_hash=h))
    journal.put_remote(FID, RemoteEntry(path, Kind.FILE, file_id, rev, 1, 10, content_hash=h))


def reader(journal: Journal, server: Server) -> tuple[FeedReader, list[str]]:
    marked: list[str] = []
    feed = FeedReader(journal, FID, "Docs", server, on_changes=marked.extend, on_state=lambda: None)  # type: ignore[arg-type]
    return feed, marked


def test_a_server_that_knows_none_of_our_files_is_a_replaced_one(journal: Journal) -> None:
    for i, name in enumerate(("a.txt", "b.txt", "c.txt")):
        synced(journal, name, f"old-{i}", 40 + i)
    journal.set_cursor(FID, 42)
    # the new server already got another device's upload of a.txt, under a new id, and reached seq 50
    new = Server([entry("a.txt", "new-a", 50)])
    request_relist(journal, FID, replaced=False)
    feed, marked = reader(journal, new)
    feed.pull()
    assert journal.get_meta(relist_key(FID)) is None  # done, not asked again
    assert journal.get_cursor(FID) == 50
    # b and c lost their merge base: local-only now, so they are uploaded, never deleted here
    assert journal.get_synced(FID, "b.txt") is None
    assert journal.get_synced(FID, "c.txt") is None
    assert journal.get_remote(FID, "b.txt") is None
    rebased = journal.get_synced(FID, "a.txt")
    assert rebased is not None
    assert rebased.file_id == "new-a"
    assert {"a.txt", "b.txt", "c.txt"} <= set(marked)


def test_the_same_server_keeps_the_merge_base(journal: Journal) -> None:
    synced(journal, "a.txt", "id-a", 3)
    synced(journal, "b.txt", "id-b", 4)
    journal.set_cursor(FID, 4)
    # meanwhile another device edited a.txt and deleted b.txt on the same server (a tombstone remains)
    same = Server([entry("a.txt", "id-a", 7, content="newer"), entry("b.txt", "id-b", 8, deleted=True)])
    request_relist(journal, FID, replaced=False)
    feed, _ = reader(journal, same)
    feed.pull()
    base = journal.get_synced(FID, "a.txt")
    assert base is not None, "the merge base stays: the newer remote edit is downloaded"
    assert base.rev == 3, "the merge base stays: the newer remote edit is downloaded"
    remote = journal.get_remote(FID, "a.txt")
    assert remote is not None
    assert remote.content_hash == digest("newer")
    assert journal.get_synced(FID, "b.txt") is not None
    assert journal.get_remote(FID, "b.txt") is None


def test_another_url_or_account_is_always_a_replaced_server(journal: Journal) -> None:
    synced(journal, "a.txt", "id-a", 3)
    journal.set_cursor(FID, 3)
    request_relist(journal, FID, replaced=True)
    request_relist(journal, FID, replaced=False)  # a later plain re-login does not downgrade the request
    feed, _ = reader(journal, Server([entry("a.txt", "id-a", 9)]))
    feed.pull()
    base = journal.get_synced(FID, "a.txt")
    assert base is not None
    assert base.rev == 9


def test_the_request_survives_a_listing_cut_short(journal: Journal) -> None:
    synced(journal, "a.txt", "id-a", 3)
    journal.set_cursor(FID, 3)
    request_relist(journal, FID, replaced=False)

    class Down(Server):
        def changes(self, cursor: int, limit: int = 1000) -> ChangesPage:
            raise OSError("connection reset")

    feed, _ = reader(journal, Down([]))
    with contextlib.suppress(OSError):
        feed.pull()
    assert journal.get_meta(relist_key(FID)) == "check"
    assert journal.get_synced(FID, "a.txt") is not None
    assert journal.get_cursor(FID) == 3
