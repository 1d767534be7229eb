"""Early sends (transfer/early.py) against a real ferry-server: a big file's blocks go up while it is hashed, so it
is read once and its upload afterwards has nothing left to send; what the server has is not sent; a pause, a
failing or a slow server makes the sender give up on the file, the hash goes on, and the usual upload sends the
rest; a file that changed while it was read sends no more; the user sees the upload while it moves."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ferrysync.daemon.engine.progress import TransferTracker
from ferrysync.daemon.local.chunker import FileChangedWhileReading, FileDigest, hash_file
from ferrysync.daemon.local.hasher import HashPool
from ferrysync.daemon.remote import RemoteClient, ServerUnavailable
from ferrysync.daemon.transfer import Uploader
from ferrysync.daemon.transfer.early import EarlySender, FileSend
from ferrysync.daemon.transfer.upload import UploadItem

MiB = 1024 * 1024


def _file(tmp_path: Path, name: str, size: int, seed: int) -> Path:
    f = tmp_path / name
    f.write_bytes(random.Random(seed).randbytes(size))
    return f


def _hash(sender: EarlySender, f: Path) -> tuple[FileDigest, FileSend]:
    sink = sender.sink_for(f.name, f.stat().st_size)
    assert isinstance(sink, FileSend)
    return hash_file(f, sink), sink


def _upload_and_commit(user_client: RemoteClient, f: Path, digest: FileDigest, remote: str | None = None) -> Uploader:
    """The executor's side: the usual upload of the file with the digest the indexer recorded, then its commit;
    the server must then serve the file's bytes."""
    up = Uploader(user_client)
    op = up.upload_file(f, remote or f.name, base_rev=None, digest=digest)
    [result] = user_client.commit([op])
    assert result.ok, (result.code, result.message)
    assert b"".join(user_client.get_block(h) for h in op.blocks) == f.read_bytes()
    return up


class _Proxy:
    """The real user_client, with a hook on each block batch."""

    def __init__(self, real: RemoteClient, on_batch: Any) -> None:
        self.real = real
        self.on_batch = on_batch
        self.batches = 0

    def missing(self, hashes: Any) -> list[str]:
        return self.real.missing(hashes)

    def put_blocks_batch(self, blocks: Sequence[tuple[str, bytes]], *, throttle: Any = None) -> list[str]:
        self.batches += 1
        self.on_batch(self.batches)
        return self.real.put_blocks_batch(blocks, throttle=throttle)


def _sender_over(proxy: _Proxy, cancel: threading.Event | None = None, **kw: Any) -> tuple[EarlySender, Uploader]:
    up = Uploader(proxy)  # type: ignore[arg-type]  # the proxy has what the uploader's early sends call
    return EarlySender(up, cancel or threading.Event(), **kw), up


def test_a_big_file_is_read_once_its_blocks_going_up_as_it_is_hashed(user_client: RemoteClient, tmp_path: Path) -> None:
    f = _file(tmp_path, "video.mov", 40 * MiB, 1)
    up = Uploader(user_client)
    digest, sink = _hash(EarlySender(up, threading.Event()), f)
    assert sink.stopped is None
    assert digest == hash_file(f), "the digest does not depend on who takes the blocks"
    assert up.stats.bytes_sent == f.stat().st_size, "every block went up while the file was read"
    after = _upload_and_commit(user_client, f, digest)
    assert after.stats.blocks_sent == 0, "the upload afterwards found every block stored"


def test_blocks_the_server_has_are_not_sent_again(user_client: RemoteClient, tmp_path: Path) -> None:
    f = _file(tmp_path, "disk.img", 30 * MiB, 2)
    _upload_and_commit(user_client, f, hash_file(f))
    with f.open("ab") as out:
        out.write(random.Random(3).randbytes(3 * MiB))  # a grown file: its old blocks are on the server
    up = Uploader(user_client)
    digest, sink = _hash(EarlySender(up, threading.Event()), f)
    assert sink.stopped is None
    assert 0 < up.stats.bytes_sent <= 3 * MiB + 4 * MiB, "only the new tail (and the block it changed) went up"
    assert _upload_and_commit(user_client, f, digest, "disk-grown.img").stats.blocks_sent == 0


def test_middle_sized_files_refused_names_and_a_paused_folder_get_no_early_sends(user_client: RemoteClient) -> None:
    cancel = threading.Event()
    sender = EarlySender(Uploader(user_client), cancel)
    assert sender.sink_for("notes.pdf", 1 * MiB) is None, "read whole and hashed in milliseconds, then uploaded"
    assert sender.sink_for("video.mov", 100 * MiB) is not None
    assert sender.sink_for("todo.txt", 4096) is not None, "a small file's block joins the others'"
    # The planner keeps a file the server would refuse on this disk (`check_server_path`): nothing to send early.
    assert sender.sink_for("a\\b.mov", 100 * MiB) is None, "a backslash: the server refuses the name"
    assert sender.sink_for("x" * 256 + ".mov", 100 * MiB) is None, "a name longer than the server's 255 bytes"
    cancel.set()  # paused
    assert sender.sink_for("video.mov", 100 * MiB) is None
    assert sender.sink_for("todo.txt", 4096) is None
    cancel.clear()
    sender.close()  # the folder stops
    assert sender.sink_for("video.mov", 100 * MiB) is None
    assert sender.sink_for("todo.txt", 4096) is None


def _small_files(tmp_path: Path, n: int, seed: int) -> list[Path]:
    files = [tmp_path / f"note{i:04d}.txt" for i in range(n)]
    for i, f in enumerate(files):
        same_as = i if i < n - 5 else i - 5  # the last five repeat the five before them
        f.write_bytes(random.Random(seed * 100_000 + same_as).randbytes(4096))
    return files


def _hash_small(sender: EarlySender, files: list[Path]) -> dict[Path, FileDigest]:
    """What the indexer does: hash a batch (small files on its own thread), then let the sinks finish."""
    with HashPool(2) as pool:
        results = {r.path: r.digest for r in pool.hash_many(
            files, lambda p: sender.sink_for(p.name, p.stat().st_size), lambda p: p.stat().st_size)}
    sender.flush()
    assert all(d is not None for d in results.values())
    return {p: d for p, d in results.items() if d is not None}


def test_small_files_are_read_once_their_blocks_going_up_in_batches_as_they_are_hashed(
        user_client: RemoteClient, tmp_path: Path) -> None:
    files = _small_files(tmp_path, 700, 1)
    proxy = _Proxy(user_client, lambda n: None)
    sender, up = _sender_over(proxy)
    digests = _hash_small(sender, files)
    assert up.stats.blocks_sent == 695, "each distinct block went up once"
    assert proxy.batches == 3, "in the uploader's batches (256 blocks), not one request a file"
    after = Uploader(user_client)
    outcomes = after.upload_many([UploadItem(f, f.name, None, digests[f]) for f in files])
    assert after.stats.blocks_sent == 0, "the upload afterwards found every block stored, and read no file again"
    results = user_client.commit([o.op for o in outcomes if o.op is not None])
    assert len(results) == 700
    assert all(r.ok for r in results)
    assert user_client.get_block(digests[files[3]].block_hashes[0]) == files[3].read_bytes()


def test_a_failing_server_leaves_small_files_to_their_upload_and_the_next_batch_tries_again(
        user_client: RemoteClient, tmp_path: Path) -> None:
    failing = [True]

    def fail(n: int) -> None:
        if failing[0]:
            raise ServerUnavailable("cannot reach the server")

    files = _small_files(tmp_path, 300, 2)
    sender, up = _sender_over(_Proxy(user_client, fail))
    digests = _hash_small(sender, files[:200])
    assert up.stats.blocks_sent == 0
    after = Uploader(user_client)
    after.upload_many([UploadItem(f, f.name, None, digests[f]) for f in files[:200]])
    assert after.stats.blocks_sent == 200, "the upload sent what the early sends could not"
    failing[0] = False  # the server is back: the indexer's next batch sends early again
    _hash_small(sender, files[200:])
    assert up.stats.blocks_sent == 95


def test_a_pause_midway_stops_the_early_sends_and_the_upload_sends_the_rest(
        user_client: RemoteClient, tmp_path: Path) -> None:
    f = _file(tmp_path, "paused.bin", 40 * MiB, 4)
    cancel = threading.Event()
    proxy = _Proxy(user_client, lambda n: cancel.set() if n == 2 else None)
    sender, up = _sender_over(proxy, cancel, in_flight=1)
    digest, sink = _hash(sender, f)
    assert sink.stopped is not None
    assert "paused" in sink.stopped
    assert digest == hash_file(f)
    assert 0 < up.stats.bytes_sent < f.stat().st_size
    after = _upload_and_commit(user_client, f, digest)
    assert up.stats.bytes_sent + after.stats.bytes_sent == f.stat().st_size, "no block went up twice"


def test_a_failing_server_stops_the_early_sends_without_failing_the_hash(
        user_client: RemoteClient, tmp_path: Path) -> None:
    def fail(n: int) -> None:
        raise ServerUnavailable("cannot reach the server")

    f = _file(tmp_path, "offline.bin", 40 * MiB, 5)
    sender, up = _sender_over(_Proxy(user_client, fail))
    digest, sink = _hash(sender, f)
    assert sink.stopped is not None
    assert "cannot reach the server" in sink.stopped
    assert digest == hash_file(f)
    assert up.stats.bytes_sent == 0
    assert _upload_and_commit(user_client, f, digest).stats.bytes_sent == f.stat().st_size


def test_a_slow_server_makes_the_sender_give_up_and_the_hash_go_on(user_client: RemoteClient, tmp_path: Path) -> None:
    release = threading.Event()
    f = _file(tmp_path, "slow.bin", 40 * MiB, 6)
    sender, _up = _sender_over(_Proxy(user_client, lambda n: release.wait(30)), in_flight=1, wait_s=0.05)
    try:
        digest, sink = _hash(sender, f)  # the one request in flight hangs until released: no room for the next
    finally:
        release.set()
    assert sink.stopped is not None
    assert "did not keep up" in sink.stopped
    assert digest == hash_file(f)
    _upload_and_commit(user_client, f, digest)


def test_a_file_that_changes_while_read_sends_no_more_and_its_upload_leaves_the_status(
        user_client: RemoteClient, tmp_path: Path) -> None:
    tracker = TransferTracker()
    f = _file(tmp_path, "growing.log", 40 * MiB, 7)
    seen: list[list[dict[str, object]]] = []

    def write_meanwhile(n: int) -> None:
        if n == 1:
            seen.append(tracker.running())
            with f.open("ab") as out:
                out.write(b"one more line\n")

    sender, up = _sender_over(_Proxy(user_client, write_meanwhile), in_flight=1,
                              track=lambda path, size: tracker.transfer(path, "up", size))
    sink = sender.sink_for(f.name, f.stat().st_size)
    assert sink is not None
    with pytest.raises(FileChangedWhileReading):
        hash_file(f, sink)
    assert [(t["path"], t["direction"]) for t in seen[0]] == [("growing.log", "up")], "the user saw it move"
    assert tracker.running() == [], "the upload left the status with the read"
    assert up.stats.bytes_sent < f.stat().st_size, "what was not sent when the change showed stayed unsent"


def test_the_hash_pool_asks_for_a_sink_only_for_a_sound_read(tmp_path: Path) -> None:
    asked: list[Path] = []

    def sink_for(path: Path) -> None:
        asked.append(path)

    big, small = _file(tmp_path, "big.bin", 20 * MiB, 8), _file(tmp_path, "small.txt", 100, 9)
    gone = tmp_path / "gone.bin"
    with HashPool(2) as pool:
        results = {r.path: r for r in pool.hash_many([big, small, gone], sink_for)}
    assert results[big].digest == hash_file(big)
    assert results[gone].error is not None
    assert sorted(asked) == [big, small], "a big file's sink is asked for as its read starts, a small file's once " \
        "it is read whole; a vanished file is never read"
