"""BLAKE3 helpers for block and file content hashes (the contract's definitions)."""

from __future__ import annotations

import re

import blake3

_HEX64 = re.compile(r"[0-9a-f]{64}")


def is_block_hash(value: object) -> bool:
    """A block hash is exactly 64 lowercase hex characters."""
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def block_hash(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def content_hash(blocks: list[str]) -> str:
    """BLAKE3 over the concatenated raw 32-byte block digests, in order (empty file: BLAKE3(b''))."""
    hasher = blake3.blake3()
    for digest in blocks:
        hasher.update(bytes.fromhex(digest))
    return hasher.hexdigest()
