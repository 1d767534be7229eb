"""The upload pipeline's rounds (daemon/transfer/pipeline.py): cut by count and bytes, the next round sent while
the caller commits the one before, and a caller that gives up stops the round running ahead."""

from __future__ import annotations

import threading

import pytest

from ferrysync.daemon.transfer.errors import TransferCancelled
from ferrysync.daemon.transfer.pipeline import pipelined, rounds

DEADLINE_S = 10


def test_rounds_are_cut_by_file_count_and_by_bytes_and_a_big_file_goes_alone() -> None:
    sizes = [1, 1, 1, 1, 1, 50, 100, 1, 1]
    got = rounds(sizes, lambda n: n, max_files=3, max_bytes=60)
    assert got == [[1, 1, 1], [1, 1, 50], [100], [1, 1]]
    assert [x for r in got for x in r] == sizes  # every file, once, in order
    assert rounds([], lambda n: n) == []


def test_the_next_round_is_sent_while_the_caller_commits_the_one_before() -> None:
    started: dict[int, threading.Event] = {i: threading.Event() for i in range(3)}

    def send(chunk: int, _cancel: threading.Event) -> str:
        started[chunk].set()
        return f"sent {chunk}"

    seen = []
    for chunk, result in pipelined([0, 1, 2], send, threading.Event()):
        seen.append(result)
        if chunk < 2:  # the caller is still "committing" `chunk`: the next one's send must already be under way
            assert started[chunk + 1].wait(DEADLINE_S), f"round {chunk + 1} did not start during round {chunk}"
    assert seen == ["sent 0", "sent 1", "sent 2"]


def test_a_caller_that_stops_early_cancels_the_round_running_ahead() -> None:
    ahead_saw_stop = threading.Event()

    def send(chunk: int, cancel: threading.Event) -> int:
        # Round 1 runs ahead while round 0 is handled, and waits for the caller to give up.
        if chunk == 1 and cancel.wait(DEADLINE_S):
            ahead_saw_stop.set()
            raise TransferCancelled("stopped")
        return chunk

    def commit_all() -> None:
        for chunk, _ in pipelined([0, 1, 2], send, threading.Event()):
            if chunk == 0:
                raise ConnectionError("the commit of round 0 failed")

    with pytest.raises(ConnectionError):
        commit_all()
    assert ahead_saw_stop.wait(DEADLINE_S)


def test_a_failed_send_is_raised_at_its_turn_after_the_rounds_before_it() -> None:
    pause = threading.Event()

    def send(chunk: int, cancel: threading.Event) -> int:
        if chunk == 1:
            pause.set()  # the user pauses while round 1 is sent
        if cancel.is_set():
            raise TransferCancelled("paused")
        return chunk

    handled: list[int] = []

    def commit_all() -> None:
        for chunk, _ in pipelined([0, 1, 2], send, pause):
            handled.append(chunk)

    with pytest.raises(TransferCancelled):
        commit_all()
    assert handled == [0]
