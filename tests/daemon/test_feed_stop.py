"""Stopping the change-feed reader: it never writes the journal after `stop` returns, even mid long-poll.

A long-poll can last a minute and nothing cuts it short, so the daemon cannot wait for it at shutdown; but the
journal closes right after the engine stops, and a feed that woke up later and applied a page into a closed (or
worse, a reopened) journal would record changes nobody plans. The feed does every journal step under a gate and
looks at its stop flag inside it.
"""

from __future__ import annotations

import threading
import time

from ferrysync.daemon import threads
from ferrysync.daemon.journal import Journal
from ferrysync.daemon.model import Kind, RemoteEntry
from ferrysync.daemon.remote.feed import FeedReader
from ferrysync.daemon.remote.types import ChangesPage, FeedEntry, WaitResult

FID = "f1"


class LongPollServer:
    """A server whose long-poll blocks until the test lets it answer "there is something new"."""

    def __init__(self) -> None:
        self.in_poll = threading.Event()
        self.answer = threading.Event()

    def changes(self, cursor: int, limit: int = 1000) -> ChangesPage:
        n = cursor + 1  # one new file per page
        entry = FeedEntry(RemoteEntry(f"Docs/n{n}.txt", Kind.FILE, f"id{n}", n, 1, 1), n)
        return ChangesPage((entry,), n, False)

    def wait_changes(self, cursor: int, timeout: float) -> WaitResult:
        self.in_poll.set()
        self.answer.wait(30)
        return WaitResult(changes=True, cursor=cursor + 1)

    def revisions(self, path: str) -> list[object]:
        return []


def test_stop_returns_during_a_long_poll_and_nothing_is_written_after(journal: Journal) -> None:
    server = LongPollServer()
    feed = FeedReader(journal, FID, "Docs", server, on_changes=lambda paths: None,  # type: ignore[arg-type]
                      on_state=lambda: None)
    feed.start()
    assert server.in_poll.wait(10), "the feed listed the server and went into its long-poll"
    listed = sorted(e.path for e in journal.iter_tree(FID, "remote"))
    cursor = journal.get_cursor(FID)

    started = time.monotonic()
    assert feed.stop(timeout=5) is True
    assert time.monotonic() - started < 2, "stop does not wait for the long-poll"

    server.answer.set()  # the server answers "new changes" after the daemon stopped
    assert feed._thread is not None
    feed._thread.join(10)
    assert not feed._thread.is_alive()
    assert threads.death(feed._thread) == "it ended without an error"
    assert sorted(e.path for e in journal.iter_tree(FID, "remote")) == listed
    assert journal.get_cursor(FID) == cursor


def test_stop_waits_for_journal_work_in_progress(journal: Journal) -> None:
    """A page being applied when stop is called is applied whole (stop holds the gate only after it)."""
    server = LongPollServer()
    feed = FeedReader(journal, FID, "Docs", server, on_changes=lambda paths: None,  # type: ignore[arg-type]
                      on_state=lambda: None)
    entered, release = threading.Event(), threading.Event()
    real_apply = feed._apply

    def slow_apply(entries: tuple[FeedEntry, ...], *, cursor: int | str) -> list[str]:
        entered.set()
        release.wait(10)
        return real_apply(entries, cursor=cursor)

    journal.set_cursor(FID, 5)  # follow the feed (no listing): the page goes through _apply
    feed._check_history = False
    feed._apply = slow_apply  # type: ignore[method-assign]
    feed.start()
    assert entered.wait(10)
    stopper = threading.Thread(target=feed.stop, kwargs={"timeout": 10})
    stopper.start()
    stopper.join(0.3)
    assert stopper.is_alive(), "stop waits while the feed is recording a page"
    release.set()
    stopper.join(10)
    assert not stopper.is_alive()
    assert journal.get_cursor(FID) == 6, "the page was applied whole"
    assert journal.get_remote(FID, "n6.txt") is not None
    server.answer.set()
    assert feed._thread is not None
    feed._thread.join(10)
    assert not feed._thread.is_alive()
    assert journal.get_cursor(FID) == 6, "and nothing after it"
