"""Encrypted names: each path component on its own, deterministically (AES-SIV), so the server can still list,
order, move and dedupe paths: a move of a folder moves its encrypted name and nothing below it changes.

component -> base64url(AES-SIV(names key, pad16(utf8(component)), AD = [label, folder id])), no '=' padding.
The AD binds a name to this folder and format version; a name is not bound to its parent folder (that is what
lets the server move folders), so a server can swap names between folders undetected: docs/encryption.md.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from ferrysync.daemon.crypto.format import (
    LABEL_NAMES,
    MAX_NAME_BYTES,
    FormatError,
    NameTooLong,
    TamperedError,
    b64d,
    b64e,
    name_pad_target,
    pad,
    unpad,
)
from ferrysync.daemon.crypto.keys import FolderKeys


def encrypt_name(keys: FolderKeys, name: str) -> str:
    raw = name.encode("utf-8")
    if not raw or "/" in name:
        raise ValueError(f"not a path component: {name!r}")
    if len(raw) > MAX_NAME_BYTES:
        raise NameTooLong(f"{name[:40]!r}…: names in an encrypted folder are limited to {MAX_NAME_BYTES} bytes "
                          f"(UTF-8), this one has {len(raw)}")
    return b64e(AESSIV(keys.names).encrypt(pad(raw, name_pad_target(len(raw))), [LABEL_NAMES, keys.folder_id]))


def decrypt_name(keys: FolderKeys, token: str) -> str:
    """Raises TamperedError (not made with this key, or changed) or FormatError (not an encrypted name)."""
    data = b64d(token)
    try:
        padded = AESSIV(keys.names).decrypt(data, [LABEL_NAMES, keys.folder_id])
    except (InvalidTag, ValueError):
        raise TamperedError(f"the encrypted name {token[:24]!r}… does not authenticate") from None
    try:
        return unpad(padded).decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError("an encrypted name holds no UTF-8 text") from None


def encrypt_path(keys: FolderKeys, rel: str) -> str:
    return "/".join(encrypt_name(keys, part) for part in rel.split("/"))


def decrypt_path(keys: FolderKeys, rel: str) -> str:
    return "/".join(decrypt_name(keys, part) for part in rel.split("/"))
