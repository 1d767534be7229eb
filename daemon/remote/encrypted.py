"""The seam of an encrypted folder: a RemoteClient for one folder that speaks plaintext to the engine and
ciphertext to the server (format: docs/encryption.md, daemon/crypto).

The executor, feed reader, uploader and downloader of an encrypted folder are given this client instead of the
shared one and are otherwise unchanged: the paths they pass are the folder's plaintext server paths (prefix +
relative path), the blocks they name are plaintext chunk hashes, and the entries they get back are in the same
terms (decrypted names, real size and mtime, plaintext chunk list from the file record). Every other folder keeps
the plain client, so unencrypted folders are untouched by this module.

What the server sends is verified before anything is written: a name or file record that does not authenticate
is refused (logged, never stored in the remote tree), a block that does not decrypt, or decrypts to other bytes
than the file record named, fails its download (TamperedBlock) and no file is written from it.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from ferrysync.daemon.crypto import (
    KEYFILE_NAME,
    FileRecord,
    FolderKeys,
    FormatError,
    NameTooLong,
    decrypt_block,
    decrypt_path,
    decrypt_record,
    encrypt_block,
    encrypt_path,
    encrypt_record,
)
from ferrysync.daemon.local.chunker import block_hash, content_hash_of
from ferrysync.daemon.model import Kind, RemoteEntry
from ferrysync.daemon.remote.blockmap import BlockMap
from ferrysync.daemon.remote.client import RemoteClient, Throttle
from ferrysync.daemon.remote.cursor import Cursor
from ferrysync.daemon.remote.errors import NotFound, ProtocolError, RemoteError, ServerUnavailable, Unauthorized
from ferrysync.daemon.remote.limits import MAX_FETCH_BYTES, MAX_HASHES_PER_FETCH
from ferrysync.daemon.remote.types import (
    ChangesPage,
    CommitOp,
    CommitResult,
    DeleteOp,
    FeedEntry,
    MkdirOp,
    MoveOp,
    PutOp,
    Revision,
    WaitResult,
)

log = logging.getLogger(__name__)

_RECORD_CACHE = 4096
_RECORD_GUESS = 16 * 1024  # bytes per record when sizing fetch requests (a 200-chunk file's record is ~13 KiB)


class TamperedBlock(ProtocolError):
    """A block or record from the server does not authenticate under the folder key: nothing is written."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="tampered")


class EncryptedClient(RemoteClient):
    """A RemoteClient view of one encrypted folder (see the module doc). It holds no connection of its own: every
    request goes through `inner`, the daemon's shared client (its token, TLS and pool)."""

    def __init__(self, inner: RemoteClient, keys: FolderKeys, prefix: str, blockmap: BlockMap) -> None:
        # Deliberately no super().__init__: this object only translates, `inner` owns the HTTP session.
        self.inner = inner
        self.keys = keys
        self.prefix = prefix
        self.map = blockmap
        self._records: OrderedDict[str, FileRecord] = OrderedDict()
        self._lock = threading.Lock()
        self.refused: list[str] = []  # server paths refused as tampered (newest last), for status and tests

    # -- paths -----------------------------------------------------------------------------------------------

    def _under(self, server_path: str) -> str | None:
        if not self.prefix:
            return server_path
        if server_path.startswith(self.prefix + "/"):
            return server_path[len(self.prefix) + 1:]
        return None

    def _join(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def enc_path(self, plain_server_path: str) -> str:
        """Raises NameTooLong for a component an encrypted folder cannot hold."""
        rel = self._under(plain_server_path)
        return plain_server_path if rel is None else self._join(encrypt_path(self.keys, rel))

    def dec_path(self, server_path: str) -> str | None:
        """The plaintext server path; None for the key file. Raises FormatError (TamperedError) for bad names."""
        rel = self._under(server_path)
        if rel is None:
            return server_path
        if rel == KEYFILE_NAME:
            return None
        return self._join(decrypt_path(self.keys, rel))

    # -- records ---------------------------------------------------------------------------------------------

    def _cache(self, rid: str, record: FileRecord) -> None:
        with self._lock:
            self._records[rid] = record
            self._records.move_to_end(rid)
            while len(self._records) > _RECORD_CACHE:
                self._records.popitem(last=False)

    def _cached(self, rid: str) -> FileRecord | None:
        with self._lock:
            return self._records.get(rid)

    def _load_records(self, rids: Iterable[str]) -> None:
        """Fetch and decrypt the records not cached yet, many per request. A bad one is left out (its entry is
        then refused by `_decode`)."""
        todo = [r for r in dict.fromkeys(rids) if self._cached(r) is None]
        step = max(1, min(MAX_HASHES_PER_FETCH, MAX_FETCH_BYTES // _RECORD_GUESS))
        for i in range(0, len(todo), step):
            group = todo[i:i + step]
            try:
                got = self.inner.get_blocks(group)
            except (ServerUnavailable, Unauthorized):
                raise
            except RemoteError:  # records over the guess, or one missing: one by one, a missing one left out
                got = {}
                for rid in group:
                    try:
                        got[rid] = self.inner.get_block(rid)
                    except NotFound:
                        log.error("encrypted folder %s: file record %s is not on the server", self.prefix, rid)
            for rid, data in got.items():
                try:
                    self._cache(rid, decrypt_record(self.keys, data))
                except FormatError as exc:
                    log.error("encrypted folder %s: file record %s refused: %s", self.prefix, rid, exc)

    def _decode_entry(self, entry: RemoteEntry, deleted: bool) -> RemoteEntry | None:
        path = self.dec_path(entry.path)
        if path is None:
            return None
        if entry.path == path:  # outside this folder: not ours to translate
            return entry
        if entry.kind is Kind.DIR or deleted or not entry.blocks:
            return replace(entry, path=path, size=0 if entry.kind is Kind.DIR else entry.size, mtime_ns=0)
        record = self._cached(entry.blocks[0])
        if record is None:
            raise FormatError(f"the file record of {path!r} is missing or does not authenticate")
        ciphers = entry.blocks[1:]
        if len(ciphers) != len(record.blocks):
            raise FormatError(f"the block list of {path!r} does not match its file record")
        self.map.put(((p, c, 0) for p, c in zip(record.blocks, ciphers, strict=True)), verified=False)
        return replace(entry, path=path, size=record.size, mtime_ns=record.mtime_ns, executable=record.executable,
                       content_hash=content_hash_of(record.blocks), blocks=record.blocks)

    def _decode(self, fe: FeedEntry) -> FeedEntry | None:
        """The plaintext view of a server entry; None for the key file and for entries refused as tampered."""
        try:
            entry = self._decode_entry(fe.entry, fe.deleted)
        except FormatError as exc:
            self.refused.append(fe.path)
            log.error("encrypted folder %s: refused the server's entry %s: %s", self.prefix or "/", fe.path, exc)
            return None
        return None if entry is None else replace(fe, entry=entry)

    def _decode_many(self, entries: Sequence[FeedEntry]) -> list[FeedEntry]:
        self._load_records(fe.entry.blocks[0] for fe in entries if fe.entry.kind is not Kind.DIR
                           and not fe.deleted and fe.entry.blocks and self._under(fe.path) is not None)
        return [d for fe in entries if (d := self._decode(fe)) is not None]

    # -- blocks ----------------------------------------------------------------------------------------------

    def missing(self, hashes: Iterable[str]) -> list[str]:
        """Plaintext chunks the server may lack: those whose ciphertext it lacks, and those this device has not
        encrypted yet (the put calls then ask the server again, so a block the server has is still not sent)."""
        known: dict[str, str] = {}
        unknown: list[str] = []
        for h in dict.fromkeys(hashes):
            row = self.map.get(h, verified_only=True)
            if row is None:
                unknown.append(h)
            else:
                known[row[0]] = h
        lacking = set(self.inner.missing(known)) if known else set()
        return unknown + [h for c, h in known.items() if c in lacking]

    def _seal(self, blocks: Sequence[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        sealed: list[tuple[str, bytes]] = []
        rows: list[tuple[str, str, int]] = []
        for h, data in blocks:
            if block_hash(data) != h:
                raise ValueError(f"block {h} does not hold the bytes it names")
            ct = encrypt_block(self.keys, bytes(data))
            cid = block_hash(ct)
            sealed.append((cid, ct))
            rows.append((h, cid, len(ct)))
        self.map.put(rows, verified=True)
        return sealed

    def _put_sealed(self, sealed: Sequence[tuple[str, bytes]], throttle: Throttle | None) -> None:
        lacking = set(self.inner.missing(c for c, _ in sealed))
        todo = [(c, d) for c, d in sealed if c in lacking]
        if len(todo) == 1:
            self.inner.put_block(todo[0][0], todo[0][1], throttle=throttle)
        elif todo:
            self.inner.put_blocks_batch(todo, throttle=throttle)

    def put_block(self, hash_: str, data: bytes, *, throttle: Throttle | None = None) -> int:
        self._put_sealed(self._seal([(hash_, data)]), throttle)
        return len(data)

    def put_blocks_batch(self, blocks: Sequence[tuple[str, bytes]], *,
                         throttle: Throttle | None = None) -> list[str]:
        self._put_sealed(self._seal(blocks), throttle)
        return [h for h, _ in blocks]

    def _open(self, h: str, ct: bytes) -> bytes:
        try:
            data = decrypt_block(self.keys, ct)
        except FormatError as exc:
            raise TamperedBlock(f"block of chunk {h}: {exc}") from None
        if block_hash(data) != h:
            raise TamperedBlock(f"chunk {h} decrypted to other bytes than its file record names (tampered)")
        self.map.put([(h, block_hash(ct), len(ct))], verified=True)
        return data

    def _cipher(self, h: str) -> str:
        row = self.map.get(h)
        if row is None:
            raise TamperedBlock(f"chunk {h} is in no file record this device has read")
        return row[0]

    def get_block(self, hash_: str, *, throttle: Throttle | None = None) -> bytes:
        return self._open(hash_, self.inner.get_block(self._cipher(hash_), throttle=throttle))

    def get_blocks(self, hashes: Sequence[str], *, throttle: Throttle | None = None) -> dict[str, bytes]:
        ciphers = {self._cipher(h): h for h in dict.fromkeys(hashes)}
        got = self.inner.get_blocks(list(ciphers), throttle=throttle)
        return {ciphers[c]: self._open(ciphers[c], ct) for c, ct in got.items()}

    # -- tree ------------------------------------------------------------------------------------------------

    def _encode_put(self, op: PutOp, records: dict[str, bytes]) -> PutOp:
        ciphers: list[str] = []
        total = 0
        for h in op.blocks:
            row = self.map.get(h, verified_only=True)
            if row is None:
                raise _Missing(h)
            ciphers.append(row[0])
            total += row[1]
        record = FileRecord(op.size, op.mtime_ns, op.executable, tuple(op.blocks))
        rct = encrypt_record(self.keys, record)
        rid = block_hash(rct)
        records[rid] = rct
        self._cache(rid, record)
        return PutOp(path=self.enc_path(op.path), blocks=(rid, *ciphers), size=len(rct) + total, mtime_ns=0,
                     executable=False, base_rev=op.base_rev)

    def _encode(self, op: CommitOp, records: dict[str, bytes]) -> CommitOp:
        if isinstance(op, PutOp):
            return self._encode_put(op, records)
        if isinstance(op, MkdirOp):
            return MkdirOp(self.enc_path(op.path), op.base_rev)
        if isinstance(op, DeleteOp):
            return DeleteOp(self.enc_path(op.path), op.base_rev)
        return MoveOp(self.enc_path(op.path), self.enc_path(op.to), op.base_rev)

    def commit(self, ops: Sequence[CommitOp]) -> list[CommitResult]:
        """Encrypt paths, write each put's file record, commit; an op that cannot be encrypted (a name too long)
        fails alone as bad_request, one whose chunks were never sealed as missing_blocks."""
        records: dict[str, bytes] = {}
        encoded: list[CommitOp | CommitResult] = []
        for op in ops:
            try:
                encoded.append(self._encode(op, records))
            except NameTooLong as exc:
                encoded.append(CommitResult(ok=False, code="bad_request", message=str(exc)))
            except _Missing as exc:
                encoded.append(CommitResult(ok=False, code="missing_blocks", message="not uploaded yet",
                                            missing=(exc.args[0],)))
        if records:
            self._put_sealed(list(records.items()), None)
        real = [e for e in encoded if not isinstance(e, CommitResult)]
        answers: Iterator[CommitResult] = iter(self.inner.commit(real) if real else [])
        out: list[CommitResult] = []
        for e in encoded:
            out.append(e if isinstance(e, CommitResult) else self._decode_result(next(answers)))
        return out

    def _decode_result(self, r: CommitResult) -> CommitResult:
        entry = current = None
        rids = [fe.entry.blocks[0] for fe in (r.entry, r.current) if fe is not None and fe.entry.blocks]
        self._load_records(rids)
        if r.entry is not None:
            entry = self._decode(r.entry)
            if entry is None:
                raise TamperedBlock(f"the server answered a commit with an entry that does not authenticate: "
                                    f"{r.entry.path}")
        if r.current is not None:
            current = self._decode(r.current)
        return replace(r, entry=entry, current=current)

    def changes(self, cursor: Cursor, limit: int = 1000) -> ChangesPage:
        page = self.inner.changes(cursor, limit)
        return replace(page, entries=tuple(self._decode_many(page.entries)))

    def wait_changes(self, cursor: Cursor, timeout: int = 60) -> WaitResult:
        return self.inner.wait_changes(cursor, timeout)

    def revisions(self, path: str) -> list[Revision]:
        revs = self.inner.revisions(self.enc_path(path))
        self._load_records(r.blocks[0] for r in revs if r.blocks and not r.deleted)
        out: list[Revision] = []
        for r in revs:
            record = self._cached(r.blocks[0]) if r.blocks else None
            if record is None:
                out.append(replace(r, size=0, mtime_ns=0))
            else:
                out.append(replace(r, size=record.size, mtime_ns=record.mtime_ns, executable=record.executable,
                                   content_hash=content_hash_of(record.blocks), blocks=record.blocks))
        return out

    def deleted(self, prefix: str | None = None) -> list[FeedEntry]:
        return self._decode_many(self.inner.deleted(self.enc_path(prefix) if prefix else self.prefix or None))

    def restore(self, path: str, rev: int) -> FeedEntry:
        fe = self.inner.restore(self.enc_path(path), rev)
        decoded = self._decode_many([fe])
        if not decoded:
            raise TamperedBlock(f"the restored entry {fe.path} does not authenticate")
        return decoded[0]

    # -- the rest goes to the shared client ------------------------------------------------------------------

    def close(self) -> None:
        """The shared client is closed by its owner, the engine."""

    def limits(self) -> dict[str, int]:
        return self.inner.limits()

    def health(self) -> dict[str, Any]:
        return self.inner.health()


class _Missing(Exception):
    """A put names a chunk this device has not sealed (encrypted and recorded) yet."""
