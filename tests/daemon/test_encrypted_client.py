"""The encrypted folder's client seam (daemon/remote/encrypted.py) against an in-memory stand-in for the server.

The stand-in keeps blocks by BLAKE3 name and entries by path, like the server's contract; end-to-end behaviour with
the real server and daemons is in tests/e2e/test_encrypted_folder.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import blake3
import pytest

from ferrysync.daemon.crypto import KEYFILE_NAME, FolderKeys, encrypt_name
from ferrysync.daemon.crypto.format import MAX_NAME_BYTES
from ferrysync.daemon.model import Kind, RemoteEntry
from ferrysync.daemon.remote import ChangesPage, CommitOp, CommitResult, FeedEntry, MkdirOp, MoveOp, PutOp
from ferrysync.daemon.remote.blockmap import BlockMap
from ferrysync.daemon.remote.client import RemoteClient
from ferrysync.daemon.remote.encrypted import EncryptedClient, TamperedBlock

KEYS = FolderKeys.from_master(b"i" * 16, b"m" * 32)


def h(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


class MemoryServer(RemoteClient):
    """Blocks by name, entries by path, a sequence: just enough of the API's contract."""

    def __init__(self) -> None:  # no HTTP session: nothing here goes on the wire
        self.blocks: dict[str, bytes] = {}
        self.entries: dict[str, FeedEntry] = {}
        self.seq = 0
        self.puts = 0

    def missing(self, hashes: Iterable[str]) -> list[str]:
        return [x for x in dict.fromkeys(hashes) if x not in self.blocks]

    def put_block(self, hash_: str, data: bytes, *, throttle: Any = None) -> int:
        assert h(data) == hash_
        self.blocks[hash_] = data
        self.puts += 1
        return len(data)

    def put_blocks_batch(self, blocks: Sequence[tuple[str, bytes]], *, throttle: Any = None) -> list[str]:
        for name, data in blocks:
            self.put_block(name, data)
        return [name for name, _ in blocks]

    def get_block(self, hash_: str, *, throttle: Any = None) -> bytes:
        return self.blocks[hash_]

    def get_blocks(self, hashes: Sequence[str], *, throttle: Any = None) -> dict[str, bytes]:
        return {x: self.blocks[x] for x in hashes}

    def commit(self, ops: Sequence[CommitOp]) -> list[CommitResult]:
        out = []
        for op in ops:
            self.seq += 1
            if isinstance(op, PutOp):
                assert all(b in self.blocks for b in op.blocks)
                assert op.size == sum(len(self.blocks[b]) for b in op.blocks)
                e = RemoteEntry(op.path, Kind.FILE, f"id{self.seq}", self.seq, op.size, op.mtime_ns, op.executable,
                                None, op.blocks)
            elif isinstance(op, MkdirOp):
                e = RemoteEntry(op.path, Kind.DIR, f"id{self.seq}", self.seq)
            elif isinstance(op, MoveOp):
                old = self.entries.pop(op.path).entry
                e = RemoteEntry(op.to, old.kind, old.file_id, self.seq, old.size, old.mtime_ns, old.executable,
                                old.content_hash, old.blocks)
            else:
                raise AssertionError(op)
            self.entries[e.path] = FeedEntry(e, self.seq)
            out.append(CommitResult(ok=True, entry=self.entries[e.path]))
        return out

    def changes(self, cursor: int | str, limit: int = 1000) -> ChangesPage:
        assert isinstance(cursor, int)  # a fake server of one namespace: integer cursors only
        return ChangesPage(tuple(fe for fe in self.entries.values() if fe.seq > cursor), self.seq, False)


@pytest.fixture
def pair() -> tuple[MemoryServer, EncryptedClient]:
    server = MemoryServer()
    return server, EncryptedClient(server, KEYS, "Vault", BlockMap(":memory:"))


def _upload(client: EncryptedClient, path: str, data: bytes, mtime: int = 5) -> CommitResult:
    chunk = h(data)
    if chunk in client.missing([chunk]):
        client.put_blocks_batch([(chunk, data)])
    (result,) = client.commit([PutOp(path, (chunk,), len(data), mtime, True, None)])
    return result


def test_round_trip_hides_names_and_sizes_and_restores_them(pair: tuple[MemoryServer, EncryptedClient]) -> None:
    server, client = pair
    result = _upload(client, "Vault/secret.txt", b"the plaintext")
    assert result.ok
    assert result.entry is not None
    assert result.entry.path == "Vault/secret.txt"
    assert (result.entry.entry.size, result.entry.entry.mtime_ns, result.entry.entry.executable) == (13, 5, True)
    (stored,) = server.entries.values()
    assert stored.path == "Vault/" + encrypt_name(KEYS, "secret.txt")
    assert (stored.entry.mtime_ns, stored.entry.executable) == (0, False)  # the real ones are in the record
    assert stored.entry.size >= 256 * 2  # padded chunk + padded record
    assert all(b"plaintext" not in v for v in server.blocks.values())
    page = EncryptedClient(server, KEYS, "Vault", BlockMap(":memory:")).changes(0)  # another device
    assert [fe.path for fe in page.entries] == ["Vault/secret.txt"]
    assert page.entries[0].entry.blocks == (h(b"the plaintext"),)


def test_the_same_content_uploads_nothing_twice_and_a_move_nothing(pair: tuple[MemoryServer, EncryptedClient],
                                                                   ) -> None:
    server, client = pair
    _upload(client, "Vault/a.bin", b"x" * 5000)
    puts = server.puts
    _upload(client, "Vault/copy.bin", b"x" * 5000)
    assert server.puts == puts  # same chunk, same record (same size and mtime): nothing new
    (moved,) = client.commit([MoveOp("Vault/a.bin", "Vault/b.bin", 1)])
    assert moved.ok
    assert server.puts == puts


def test_names_too_long_fail_alone(pair: tuple[MemoryServer, EncryptedClient]) -> None:
    _, client = pair
    long, short = "Vault/" + "n" * (MAX_NAME_BYTES + 1), "Vault/ok"
    results = client.commit([MkdirOp(long), MkdirOp(short)])
    assert [r.ok for r in results] == [False, True]
    assert results[0].code == "bad_request"
    assert "159 bytes" in results[0].message


def test_key_file_and_forged_entries_never_reach_the_engine(pair: tuple[MemoryServer, EncryptedClient]) -> None:
    server, client = pair
    _upload(client, "Vault/real.txt", b"real")
    real = next(iter(server.entries.values()))
    for path in (f"Vault/{KEYFILE_NAME}", "Vault/" + "A" * 43):
        server.seq += 1
        server.entries[path] = FeedEntry(RemoteEntry(path, Kind.FILE, "x", server.seq, real.entry.size, 0, False,
                                                     None, real.entry.blocks), server.seq)
    assert [fe.path for fe in client.changes(0).entries] == ["Vault/real.txt"]
    assert client.refused == ["Vault/" + "A" * 43]


def test_a_swapped_block_is_refused_on_download(pair: tuple[MemoryServer, EncryptedClient]) -> None:
    server, client = pair
    _upload(client, "Vault/f.txt", b"genuine")
    reader = EncryptedClient(server, KEYS, "Vault", BlockMap(":memory:"))
    (fe,) = reader.changes(0).entries
    cipher = server.entries["Vault/" + encrypt_name(KEYS, "f.txt")].entry.blocks[1]
    server.blocks[cipher] = b"junk"  # a server that serves other bytes under the name
    with pytest.raises(TamperedBlock):
        reader.get_block(fe.entry.blocks[0])


def test_upload_skips_only_blocks_it_sealed_itself(pair: tuple[MemoryServer, EncryptedClient]) -> None:
    server, client = pair
    _upload(client, "Vault/f.txt", b"genuine")
    reader = EncryptedClient(server, KEYS, "Vault", BlockMap(":memory:"))
    reader.changes(0)  # learns the record's chunk list: hints only
    assert reader.missing([h(b"genuine")]) == [h(b"genuine")]  # re-encrypted and asked again before any send
    puts = server.puts
    reader.put_blocks_batch([(h(b"genuine"), b"genuine")])
    assert server.puts == puts  # the server had it: nothing sent
    assert reader.missing([h(b"genuine")]) == []
