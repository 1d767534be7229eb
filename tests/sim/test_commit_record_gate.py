"""No page of the change feed lands between a commit and its record (found by the simulation: seed 7431).

The executor records what the server answered to its commit in the remote tree. The feed thread writes the same
tree. A page it applied in between, with what another device did right after the commit, was then overwritten by
the older answer: in seed 7431 a folder moved away on the server came back under its new name in the remote tree,
and the device said idle beside a server that did not have it. The feed thread and the executor now share one gate
(FolderContext.remote_gate), held by the executor from its commit request until the answer is recorded.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from simdevice import PREFIX
from simworld import Simulation

from ferrysync.daemon.remote import DeleteOp


def test_a_deletion_right_after_a_commit_is_not_undone_by_recording_the_commit(
        sim: Simulation, monkeypatch: pytest.MonkeyPatch) -> None:
    amy, ben = sim.devices
    (ben.root / "x.txt").write_bytes(b"ben's new file")
    ben.events.append("x.txt")
    feed_threads: list[threading.Thread] = []
    blocked: list[bool] = []
    inject = sim._inject

    def meanwhile(device: Any, op: str, stage: str, what: str, rel: Any) -> None:
        if device is ben and (op, stage) == ("http", "after") and what == "POST /v1/commit" and not blocked:
            # In that instant another device deletes the file on the server, and ben's feed thread, woken by its
            # long-poll, pulls the page that says so (as the daemon's feed thread does: under its gate).
            entry = next(e for e in sim.cloud._all_entries() if e.path == f"{PREFIX}/x.txt")
            [r] = amy.folder.ctx.client.commit([DeleteOp(f"{PREFIX}/x.txt", entry.rev)])
            assert r.ok

            def feed_thread() -> None:
                with ben.folder.feed._gate:  # the gate the feed thread takes (feed.py, _run)
                    ben.folder.feed.poll_once()

            t = threading.Thread(target=feed_thread)
            t.start()
            t.join(0.5)
            blocked.append(t.is_alive())
            feed_threads.append(t)
            return
        inject(device, op, stage, what, rel)

    monkeypatch.setattr(sim, "_inject", meanwhile)
    with sim.acting(ben):
        ben.turn()  # indexes x.txt and uploads it
    for t in feed_threads:
        t.join(10)
    assert blocked == [True], "the feed's page waited for the commit's record"
    assert ben.journal.get_remote(ben.cfg.id, "x.txt") is None, "the server's deletion, applied after the record"

    sim.settle()
    assert not (ben.root / "x.txt").exists()
    assert "x.txt" not in sim.cloud.live_files(PREFIX)
