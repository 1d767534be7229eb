"""`ferry decrypt`: read an encrypted folder from a copy of the server's data, with no server and no daemon.

It needs only what docs/encryption.md documents: the metadata database (SQLite `ferry.db`: the `entries` table's
path, kind, deleted and blocks columns, and `users` for the account) and the block store: loose files
`blocks/ab/cd/<hash>`, pack files `packs/*.pack` (whose records each name their block: b"FBK1" + 32-byte BLAKE3 +
4-byte big-endian length + bytes) or a local copy of an S3 store's objects `ab/<hash>`. Every block is checked
against its BLAKE3 name, then decrypted and checked against the file record; a file that fails is reported and
not written (the rest still is).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import blake3

from ferrysync.daemon.cli import EXIT_ERROR, EXIT_OK, UsageError
from ferrysync.daemon.crypto import (
    KEYFILE_NAME,
    FolderKeys,
    FormatError,
    KeyFile,
    WrongPassphrase,
    decrypt_block,
    decrypt_path,
    decrypt_record,
)

_PACK_HEADER = struct.Struct(">4s32sI")


class BlockSource:
    """Blocks by BLAKE3 name from a server data directory: loose files first, then an index of the packs."""

    def __init__(self, data: Path, s3_copy: Path | None = None) -> None:
        self.data = data
        self.s3_copy = s3_copy  # a local copy of an S3 block store: objects `ab/<hash>` under it
        self._packs: dict[str, tuple[Path, int, int]] | None = None

    def _index_packs(self) -> dict[str, tuple[Path, int, int]]:
        found: dict[str, tuple[Path, int, int]] = {}
        for pack in sorted(self.data.glob("**/*.pack")):
            with pack.open("rb") as f:
                pos = 0
                while header := f.read(_PACK_HEADER.size):
                    if len(header) < _PACK_HEADER.size:
                        break
                    magic, digest, length = _PACK_HEADER.unpack(header)
                    if magic != b"FBK1":
                        break  # a torn tail: nothing after it was indexed by the server either
                    found.setdefault(digest.hex(), (pack, pos + _PACK_HEADER.size, length))
                    pos += _PACK_HEADER.size + length
                    f.seek(pos)
        return found

    def get(self, digest: str) -> bytes:
        data: bytes | None = None
        for loose in (self.data / "blocks" / digest[:2] / digest[2:4] / digest,
                      *([self.s3_copy / digest[:2] / digest] if self.s3_copy is not None else [])):
            if loose.is_file():
                data = loose.read_bytes()
                break
        if data is None:
            if self._packs is None:
                self._packs = self._index_packs()
            where = self._packs.get(digest)
            if where is not None:
                with where[0].open("rb") as f:
                    f.seek(where[1])
                    data = f.read(where[2])
        if data is None:
            raise FileNotFoundError(f"block {digest} is not in {self.data}")
        if blake3.blake3(data).hexdigest() != digest:
            raise FormatError(f"block {digest} is damaged (its bytes do not hash to its name)")
        return data


# The user's tree as the server sees it (server/store/views.py): their root namespace's rows, except those hidden
# below a folder shared with them, plus each shared folder's rows under the path it is mounted at. A data directory
# from before folders could be shared (entries keyed by user_id) is read as it is.
_ROOT_ROWS = ("SELECT e.path, e.kind, e.blocks FROM entries e JOIN namespaces n ON n.id = e.ns_id "
              "JOIN users u ON u.id = n.owner_id WHERE u.name = ? AND n.kind = 'root' AND NOT e.deleted")
_MOUNTED_ROWS = ("SELECT m.path, e.path, e.kind, e.blocks FROM entries e JOIN mounts m ON m.ns_id = e.ns_id "
                 "JOIN users u ON u.id = m.user_id WHERE u.name = ? AND NOT e.deleted")
_OLD_ROWS = ("SELECT e.path, e.kind, e.blocks FROM entries e JOIN users u ON u.id = e.user_id "
             "WHERE u.name = ? AND NOT e.deleted")


def _entries(db: Path, user: str) -> Iterator[tuple[str, str, list[str]]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        columns = {str(r[1]) for r in con.execute("PRAGMA table_info(entries)")}
        if "ns_id" not in columns:
            rows = [(str(p), str(k), b) for p, k, b in con.execute(_OLD_ROWS, (user,))]
        else:
            mounted = [(str(m), str(p), str(k), b) for m, p, k, b in con.execute(_MOUNTED_ROWS, (user,))]
            points = {m for m, _, _, _ in mounted}
            rows = [(str(p), str(k), b) for p, k, b in con.execute(_ROOT_ROWS, (user,))
                    if not any(str(p).startswith(m + "/") for m in points)]
            rows += [(f"{m}/{p}", k, b) for m, p, k, b in mounted]
    finally:
        con.close()
    for path, kind, blocks in sorted(rows):
        yield path, kind, list(json.loads(blocks or "[]"))


def decrypt_folder(data: Path, user: str, remote: str, out: Path, *, passphrase: str | None = None,
                   recovery_key: str | None = None, s3_copy: Path | None = None) -> list[str]:
    """Write the folder's plaintext under `out`; returns the problems met (an empty list: everything written).
    Raises WrongPassphrase, FormatError or FileNotFoundError before writing anything when the key cannot be had."""
    prefix = remote.strip("/")
    rows = list(_entries(data / "ferry.db", user))
    source = BlockSource(data, s3_copy)
    keyrow = next((r for r in rows if r[0] == f"{prefix}/{KEYFILE_NAME}"), None)
    if keyrow is None:
        raise FileNotFoundError(f"/{prefix} of {user} is not an encrypted folder in {data} (no key file)")
    keyfile = KeyFile.from_bytes(b"".join(source.get(h) for h in keyrow[2]))
    keys: FolderKeys = keyfile.unlock_recovery(recovery_key) if recovery_key else keyfile.unlock(passphrase or "")
    problems: list[str] = []
    for path, kind, blocks in rows:
        if not path.startswith(prefix + "/") or path == keyrow[0]:
            continue
        try:
            rel = decrypt_path(keys, path[len(prefix) + 1:])
            target = out.joinpath(*rel.split("/"))
            if kind == "dir":
                target.mkdir(parents=True, exist_ok=True)
                continue
            record = decrypt_record(keys, source.get(blocks[0]))
            if len(blocks) - 1 != len(record.blocks):
                raise FormatError("its block list does not match its file record")
            pieces = []
            for cid, plain in zip(blocks[1:], record.blocks, strict=True):
                chunk = decrypt_block(keys, source.get(cid))
                if blake3.blake3(chunk).hexdigest() != plain:
                    raise FormatError("a block decrypts to other bytes than its file record names")
                pieces.append(chunk)
            content = b"".join(pieces)
            if len(content) != record.size:
                raise FormatError("its size differs from its file record")
        except (FormatError, FileNotFoundError, IndexError) as exc:
            problems.append(f"{path}: {exc}")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".ferry-decrypt-tmp")
        tmp.write_bytes(content)
        os.chmod(tmp, 0o755 if record.executable else 0o644)
        os.utime(tmp, ns=(record.mtime_ns, record.mtime_ns))
        os.replace(tmp, target)
    return problems


def cmd_decrypt(args: argparse.Namespace) -> int:
    data = Path(args.data)
    if not (data / "ferry.db").is_file():
        raise UsageError(f"{data} holds no ferry.db: give the server's data directory (a copy is enough)")
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} is not empty: decrypt into a new folder")
    secret = sys.stdin.readline().strip() if args.recovery_key_stdin or args.passphrase_stdin else None
    if secret is None:
        import getpass

        secret = getpass.getpass("Passphrase (or recovery key, with --recovery-key-stdin): ")
    try:
        problems = decrypt_folder(data, args.user, args.remote, out,
                                  passphrase=None if args.recovery_key_stdin else secret,
                                  recovery_key=secret if args.recovery_key_stdin else None,
                                  s3_copy=Path(args.s3_copy) if args.s3_copy else None)
    except (WrongPassphrase, FormatError, FileNotFoundError) as exc:
        print(f"ferry decrypt: {exc}", file=sys.stderr)
        return EXIT_ERROR
    for p in problems:
        print(f"not written: {p}", file=sys.stderr)
    print(f"Decrypted /{args.remote.strip('/')} into {out}" + (f" ({len(problems)} files refused)" if problems
                                                               else "."))
    return EXIT_ERROR if problems else EXIT_OK
