"""Facts of the encrypted-folder format v1 (docs/encryption.md is their prose), padding and encodings.

Everything a future reader needs to decode today's folders is pinned here: the version byte, the domain labels
that go into every associated data and HKDF info, the padding rule and the name encoding. Changing any of them
is a new format version; tests/daemon/test_crypto_kat.py holds known answers that must keep passing.
"""

from __future__ import annotations

import base64

VERSION = 1
MAGIC = "ferry-e2ee"  # the key file's "format" field
KEYFILE_NAME = ".ferry-e2ee-keys"  # the reserved file at the encrypted folder's root on the server (never synced)

# Domain labels: associated data (AD) and HKDF info strings. Each names the version so v1 ciphertexts can never
# be taken for another version's.
LABEL_NAMES = b"ferry-e2ee/v1/names"
LABEL_BLOCKS = b"ferry-e2ee/v1/blocks"
LABEL_RECORDS = b"ferry-e2ee/v1/records"
LABEL_WRAP_PASSPHRASE = b"ferry-e2ee/v1/wrap/passphrase"
LABEL_WRAP_RECOVERY = b"ferry-e2ee/v1/wrap/recovery"

MASTER_KEY_BYTES = 32  # the folder key; subkeys are HKDF-SHA256 outputs of 64 bytes (AES-SIV with AES-256)
SUBKEY_BYTES = 64
FOLDER_ID_BYTES = 16  # random, public, bound into every AD: a ciphertext cannot move between folders
RECOVERY_KEY_BYTES = 32
SIV_TAG = 16

NAME_PAD = 16  # names are padded to a multiple of this many bytes before encryption
MAX_SERVER_COMPONENT = 255  # bytes: the server's limit per path component
# Longest plaintext name: 0x80 + zero padding must fit, and base64url(tag + padded) must fit the server's limit.
MAX_NAME_BYTES = ((MAX_SERVER_COMPONENT * 3 // 4 - SIV_TAG) // NAME_PAD) * NAME_PAD - 1  # 159
MIN_BLOCK_PAD = 256  # the smallest padded chunk: tiny files all look alike


class FormatError(Exception):
    """Data that does not follow the format (unknown version, malformed field)."""


class TamperedError(FormatError):
    """A ciphertext failed authentication: changed on the server, or not made with this folder's key."""


class WrongPassphrase(Exception):
    """The passphrase (or recovery key) does not unwrap this folder's key."""


class NameTooLong(ValueError):
    """A path component is longer than an encrypted folder can hold (MAX_NAME_BYTES UTF-8 bytes)."""


def b64e(data: bytes) -> str:
    """base64url without padding: the alphabet of encrypted names (safe on every OS and on the server)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    if not text or any(c not in _B64_ALPHABET for c in text) or len(text) % 4 == 1:
        raise FormatError(f"not base64url: {text[:40]!r}")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_B64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def padme(length: int) -> int:
    """Padmé (Nikitin et al., PETS 2019): round `length` up so that at most O(log log L) bits of it remain; the
    overhead is at most ~12 % and under 3 % for chunk-sized lengths."""
    if length < 2:
        return length
    e = length.bit_length() - 1
    s = e.bit_length()
    mask = (1 << (e - s)) - 1
    return (length + mask) & ~mask


def pad(data: bytes, target: int) -> bytes:
    """ISO/IEC 7816-4 padding: 0x80 then zeros up to `target` bytes (target > len(data))."""
    if target <= len(data):
        raise ValueError("padding target must exceed the data")
    return data + b"\x80" + bytes(target - len(data) - 1)


def unpad(data: bytes) -> bytes:
    stripped = data.rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80:
        raise FormatError("bad padding")
    return stripped[:-1]


def block_pad_target(length: int) -> int:
    """How long a chunk of `length` bytes is once padded (always at least one byte longer, for the 0x80)."""
    return padme(max(length + 1, MIN_BLOCK_PAD))


def name_pad_target(length: int) -> int:
    return (length // NAME_PAD + 1) * NAME_PAD
