"""Overlap the stages of an upload: the next round's files are hashed-checked, asked about and sent while the
caller commits the round before, so the server's commit (and the journal's transaction) costs no send time.

A round is a slice of the files to upload, cut by count and by bytes (`rounds`), so thousands of small files start
committing after the first slice instead of after the last, and one slow commit never holds more than one round's
sends. Only one round runs ahead: its blocks may be stored and not yet committed when the caller stops (offline,
paused), which costs nothing (the next try's missing-call finds them stored).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

ROUND_FILES = 1000
ROUND_BYTES = 64 * 1024 * 1024


def rounds(items: Sequence[T], size: Callable[[T], int], *, max_files: int = ROUND_FILES,
           max_bytes: int = ROUND_BYTES) -> list[list[T]]:
    """Consecutive slices of `items` of at most `max_files` and about `max_bytes` (a bigger item goes alone)."""
    out: list[list[T]] = []
    cur: list[T] = []
    cur_bytes = 0
    for item in items:
        n = size(item)
        if cur and (len(cur) >= max_files or cur_bytes + n > max_bytes):
            out.append(cur)
            cur, cur_bytes = [], 0
        cur.append(item)
        cur_bytes += n
    if cur:
        out.append(cur)
    return out


class EitherEvent(threading.Event):
    """Set when it is set itself or when any of `others` is (a pause of the folder, or the caller giving up)."""

    def __init__(self, *others: threading.Event) -> None:
        super().__init__()
        self._others = others

    def is_set(self) -> bool:
        return super().is_set() or any(o.is_set() for o in self._others)


def pipelined(chunks: Sequence[T], send: Callable[[T, threading.Event], R],
              cancel: threading.Event) -> Generator[tuple[T, R], None, None]:
    """Yield (chunk, send(chunk)) in order while the next chunk's send already runs on a thread of its own.

    `send` gets an event that is set when `cancel` is, or when the caller stops iterating early (an error in its
    commit): the send running ahead then stops at its next request instead of sending a round nobody commits.
    An exception from a send is raised here, at that chunk's turn. A single chunk (one edited file: the common
    case) is sent on the calling thread: nothing to overlap it with.
    """
    if len(chunks) == 1:
        yield chunks[0], send(chunks[0], cancel)
        return
    if not chunks:
        return
    stop = EitherEvent(cancel)
    with ThreadPoolExecutor(1, thread_name_prefix="ferry-upload-ahead") as pool:
        ahead = pool.submit(send, chunks[0], stop)
        try:
            for i, chunk in enumerate(chunks):
                result = ahead.result()
                if i + 1 < len(chunks):
                    ahead = pool.submit(send, chunks[i + 1], stop)
                yield chunk, result
        finally:
            stop.set()
