"""Encrypted chunk contents and the per-file record that carries what the server must not read.

A chunk (cut by FastCDC from the plaintext, as in any folder) is padded (format.block_pad_target) and encrypted
with AES-SIV under the blocks key, deterministically: the same chunk in the same folder always gives the same
ciphertext, so the server's BLAKE3 block names (of the ciphertext) still dedupe, a renamed file uploads nothing
and a one-byte edit re-sends about one chunk. The BLAKE3 of a ciphertext is a keyed identifier: without the
folder key nobody can tell which plaintext it holds, nor match it to the same plaintext in another folder.

Each file version has one more block, listed first: its FileRecord (real size, mtime, executable bit and the
plaintext chunk hashes), encrypted under the records key. The server sees the padded total as the file's size,
mtime 0 and no executable bit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from ferrysync.daemon.crypto.format import (
    LABEL_BLOCKS,
    LABEL_RECORDS,
    VERSION,
    FormatError,
    TamperedError,
    block_pad_target,
    pad,
    unpad,
)
from ferrysync.daemon.crypto.keys import FolderKeys


def encrypt_block(keys: FolderKeys, plaintext: bytes) -> bytes:
    return AESSIV(keys.blocks).encrypt(pad(plaintext, block_pad_target(len(plaintext))),
                                       [LABEL_BLOCKS, keys.folder_id])


def decrypt_block(keys: FolderKeys, ciphertext: bytes) -> bytes:
    """Raises TamperedError when the block was changed or is not this folder's."""
    try:
        return unpad(AESSIV(keys.blocks).decrypt(ciphertext, [LABEL_BLOCKS, keys.folder_id]))
    except (InvalidTag, ValueError):
        raise TamperedError("an encrypted block does not authenticate (changed on the server?)") from None


@dataclass(frozen=True, slots=True)
class FileRecord:
    """What a file version is, in plaintext terms: the daemon's remote tree is filled from it."""

    size: int
    mtime_ns: int
    executable: bool
    blocks: tuple[str, ...]  # BLAKE3 hex of each plaintext chunk, in order (as the local tree records them)

    def to_json(self) -> dict[str, Any]:
        return {"v": VERSION, "size": self.size, "mtime_ns": self.mtime_ns, "x": self.executable,
                "blocks": list(self.blocks)}

    @classmethod
    def from_json(cls, obj: Any) -> FileRecord:
        try:
            if obj["v"] != VERSION:
                raise FormatError(f"file record version {obj['v']!r} is not supported")
            blocks = tuple(obj["blocks"])
            if not all(isinstance(b, str) and len(b) == 64 for b in blocks):
                raise FormatError("bad block hash in a file record")
            size, mtime = obj["size"], obj["mtime_ns"]
            if not isinstance(size, int) or not isinstance(mtime, int) or size < 0 or not isinstance(obj["x"], bool):
                raise FormatError("bad field in a file record")
            return cls(size, mtime, obj["x"], blocks)
        except (KeyError, TypeError) as exc:
            raise FormatError(f"bad file record: {exc}") from exc


def encrypt_record(keys: FolderKeys, record: FileRecord) -> bytes:
    raw = json.dumps(record.to_json(), separators=(",", ":"), sort_keys=True).encode("ascii")
    return AESSIV(keys.records).encrypt(pad(raw, block_pad_target(len(raw))), [LABEL_RECORDS, keys.folder_id])


def decrypt_record(keys: FolderKeys, ciphertext: bytes) -> FileRecord:
    try:
        raw = unpad(AESSIV(keys.records).decrypt(ciphertext, [LABEL_RECORDS, keys.folder_id]))
    except (InvalidTag, ValueError):
        raise TamperedError("an encrypted file record does not authenticate (changed on the server?)") from None
    try:
        return FileRecord.from_json(json.loads(raw))
    except ValueError as exc:
        raise FormatError(f"bad file record: {exc}") from exc
