"""What the feed says about itself: "caught up" turns false only when there is something to apply.

Every long-poll ends with a pull (after a minute with nothing new, or when the server moved on); a pull that finds
nothing new used to mark the feed "not caught up" while it asked, so the status and the tray flashed "Syncing"
once a minute on an idle folder, and a check right after `ferry wait` could see "syncing" with nothing to do.
"""

from __future__ import annotations

from ferrysync.daemon.journal import Journal
from ferrysync.daemon.model import Kind, RemoteEntry
from ferrysync.daemon.remote.feed import FeedReader
from ferrysync.daemon.remote.types import ChangesPage, FeedEntry

FID = "f1"


class Server:
    """A feed with one file at seq 1; records whether the feed called itself caught up while each page was asked."""

    def __init__(self) -> None:
        self.feed: FeedReader | None = None
        self.seen: list[bool] = []
        self.extra: list[FeedEntry] = []

    def changes(self, cursor: int, limit: int = 1000) -> ChangesPage:
        assert self.feed is not None
        self.seen.append(self.feed.state.caught_up)
        entries = [FeedEntry(RemoteEntry("Docs/a.txt", Kind.FILE, "id-a", 1, 1, 1), 1), *self.extra]
        rest = tuple(e for e in entries if e.seq > cursor)
        return ChangesPage(rest, max([cursor, *(e.seq for e in rest)]), False)

    def revisions(self, path: str) -> list[object]:
        return []


def test_a_pull_that_finds_nothing_new_stays_caught_up(journal: Journal) -> None:
    server = Server()
    marked: list[str] = []
    feed = FeedReader(journal, FID, "Docs", server, on_changes=marked.extend,  # type: ignore[arg-type]
                      on_state=lambda: None)
    server.feed = feed
    feed.poll_once()  # the first listing
    assert feed.state.caught_up
    assert marked == ["a.txt"]

    server.seen.clear()
    feed.poll_once()  # a long-poll ended with nothing new
    assert server.seen == [True], "never 'not caught up' while asking for nothing new"
    assert feed.state.caught_up

    server.extra = [FeedEntry(RemoteEntry("Docs/b.txt", Kind.FILE, "id-b", 2, 1, 1), 2)]
    states: list[bool] = []
    feed._on_changes = lambda paths: states.append(feed.state.caught_up)
    feed.poll_once()  # something new: behind until it is handed to the planner
    assert states == [False], "while the new page's paths are handed over, the feed is not caught up"
    assert feed.state.caught_up


def test_a_new_login_is_not_caught_up_until_listed(journal: Journal) -> None:
    server = Server()
    feed = FeedReader(journal, FID, "Docs", server, on_changes=lambda paths: None,  # type: ignore[arg-type]
                      on_state=lambda: None)
    server.feed = feed
    feed.poll_once()
    assert feed.state.caught_up
    feed.server_changed(replaced=False)
    assert not feed.state.caught_up
    feed.poll_once()
    assert feed.state.caught_up
