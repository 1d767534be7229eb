"""The key hierarchy of an encrypted folder: folder key -> subkeys; key file wrapping it (passphrase, recovery).

    passphrase --Argon2id(salt, params)--> KEK_p --AES-SIV wrap--+
    recovery key --HKDF-SHA256---------->  KEK_r --AES-SIV wrap--+--> folder key (32 random bytes)
    folder key --HKDF-SHA256(info=label)--> names key, blocks key, records key (64 bytes each, AES-SIV)

The key file is public (it lives on the server beside the folder's ciphertext): it holds the folder id, the KDF
parameters and salt, and the two wrapped copies of the folder key. Changing the passphrase re-wraps the same folder
key, so no data is re-encrypted. AES-SIV is RFC 5297's key-wrap mode; the wrap's AD names the slot and folder.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ferrysync.daemon.crypto.format import (
    FOLDER_ID_BYTES,
    LABEL_BLOCKS,
    LABEL_NAMES,
    LABEL_RECORDS,
    LABEL_WRAP_PASSPHRASE,
    LABEL_WRAP_RECOVERY,
    MAGIC,
    MASTER_KEY_BYTES,
    RECOVERY_KEY_BYTES,
    SUBKEY_BYTES,
    VERSION,
    FormatError,
    WrongPassphrase,
    b64d,
    b64e,
)


def hkdf(key: bytes, info: bytes, length: int = SUBKEY_BYTES) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(key)


@dataclass(frozen=True, slots=True)
class KdfParams:
    """Argon2id parameters (RFC 9106's second recommendation: 64 MiB, 3 passes, 4 lanes), stored in the key file
    so a later version may raise them for new wraps and still read old ones."""

    salt: bytes
    iterations: int = 3
    memory_kib: int = 64 * 1024
    lanes: int = 4

    def derive(self, passphrase: str) -> bytes:
        return Argon2id(salt=self.salt, length=SUBKEY_BYTES, iterations=self.iterations, lanes=self.lanes,
                        memory_cost=self.memory_kib).derive(passphrase.encode("utf-8"))

    def to_json(self) -> dict[str, Any]:
        return {"alg": "argon2id", "salt": b64e(self.salt), "iterations": self.iterations,
                "memory_kib": self.memory_kib, "lanes": self.lanes}

    @classmethod
    def from_json(cls, obj: Any) -> KdfParams:
        try:
            if obj["alg"] != "argon2id":
                raise FormatError(f"unknown key derivation {obj['alg']!r}")
            params = cls(b64d(obj["salt"]), int(obj["iterations"]), int(obj["memory_kib"]), int(obj["lanes"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"bad kdf parameters: {exc}") from exc
        if not (1 <= params.iterations <= 64 and 8 * params.lanes <= params.memory_kib <= 4 * 1024 * 1024
                and 1 <= params.lanes <= 64 and len(params.salt) >= 16):
            raise FormatError("kdf parameters out of range")
        return params


@dataclass(frozen=True, slots=True)
class FolderKeys:
    """The unwrapped folder key and the subkeys derived from it (what the daemon keeps in the OS keyring)."""

    folder_id: bytes
    master: bytes
    names: bytes = field(repr=False, default=b"")
    blocks: bytes = field(repr=False, default=b"")
    records: bytes = field(repr=False, default=b"")

    @classmethod
    def from_master(cls, folder_id: bytes, master: bytes) -> FolderKeys:
        if len(master) != MASTER_KEY_BYTES or len(folder_id) != FOLDER_ID_BYTES:
            raise FormatError("bad folder key or folder id length")
        return cls(folder_id, master, hkdf(master, LABEL_NAMES), hkdf(master, LABEL_BLOCKS),
                   hkdf(master, LABEL_RECORDS))

    def export(self) -> str:
        """A compact secret string for the keyring: version, folder id and folder key."""
        return f"v{VERSION}:{b64e(self.folder_id)}:{b64e(self.master)}"

    @classmethod
    def load(cls, text: str) -> FolderKeys:
        try:
            version, fid, master = text.split(":")
        except ValueError:
            raise FormatError("bad stored folder key") from None
        if version != f"v{VERSION}":
            raise FormatError(f"unknown stored folder key version {version!r}")
        return cls.from_master(b64d(fid), b64d(master))


def _wrap(kek: bytes, label: bytes, folder_id: bytes, master: bytes) -> bytes:
    return AESSIV(kek).encrypt(master, [label, folder_id])


def _unwrap(kek: bytes, label: bytes, folder_id: bytes, wrapped: bytes) -> bytes:
    try:
        return AESSIV(kek).decrypt(wrapped, [label, folder_id])
    except InvalidTag:
        raise WrongPassphrase("wrong passphrase or recovery key for this encrypted folder") from None


def recovery_kek(recovery: bytes) -> bytes:
    return hkdf(recovery, LABEL_WRAP_RECOVERY)


_GROUPS = re.compile(r"[^A-Z2-7]")


def format_recovery_key(recovery: bytes) -> str:
    """Base32 in groups of 4 (no padding): easy to write down, case and separators are ignored when read back."""
    text = base64.b32encode(recovery).decode("ascii").rstrip("=")
    return "-".join(text[i:i + 4] for i in range(0, len(text), 4))


def parse_recovery_key(text: str) -> bytes:
    clean = _GROUPS.sub("", text.upper())
    try:
        raw = base64.b32decode(clean + "=" * (-len(clean) % 8))
    except ValueError:
        raise WrongPassphrase("this is not a recovery key (expected 52 letters and digits in groups)") from None
    if len(raw) != RECOVERY_KEY_BYTES:
        raise WrongPassphrase("this is not a recovery key (wrong length)")
    return raw


@dataclass(frozen=True, slots=True)
class KeyFile:
    """The public key file (JSON) stored at the folder's root on the server."""

    folder_id: bytes
    kdf: KdfParams
    wrapped_passphrase: bytes
    wrapped_recovery: bytes
    version: int = VERSION

    def unlock(self, passphrase: str) -> FolderKeys:
        """Raises WrongPassphrase."""
        kek = self.kdf.derive(passphrase)
        return FolderKeys.from_master(self.folder_id, _unwrap(kek, LABEL_WRAP_PASSPHRASE, self.folder_id,
                                                              self.wrapped_passphrase))

    def unlock_recovery(self, recovery_text: str) -> FolderKeys:
        """Raises WrongPassphrase."""
        kek = recovery_kek(parse_recovery_key(recovery_text))
        return FolderKeys.from_master(self.folder_id, _unwrap(kek, LABEL_WRAP_RECOVERY, self.folder_id,
                                                              self.wrapped_recovery))

    def rewrap(self, keys: FolderKeys, new_passphrase: str, *, salt: bytes | None = None) -> KeyFile:
        """The same folder key under a new passphrase (new salt); the recovery slot is kept as it is."""
        kdf = replace(self.kdf, salt=salt if salt is not None else os.urandom(16))
        wrapped = _wrap(kdf.derive(new_passphrase), LABEL_WRAP_PASSPHRASE, keys.folder_id, keys.master)
        return replace(self, kdf=kdf, wrapped_passphrase=wrapped)

    def to_bytes(self) -> bytes:
        obj = {"format": MAGIC, "version": self.version, "folder_id": b64e(self.folder_id), "kdf": self.kdf.to_json(),
               "wrapped": {"passphrase": b64e(self.wrapped_passphrase), "recovery": b64e(self.wrapped_recovery)}}
        return (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode("ascii")

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyFile:
        try:
            obj = json.loads(data)
            if obj.get("format") != MAGIC:
                raise FormatError("not a Ferry encrypted-folder key file")
            if obj.get("version") != VERSION:
                raise FormatError(f"key file version {obj.get('version')!r} is not supported (this Ferry reads "
                                  f"version {VERSION}); update Ferry")
            return cls(b64d(obj["folder_id"]), KdfParams.from_json(obj["kdf"]), b64d(obj["wrapped"]["passphrase"]),
                       b64d(obj["wrapped"]["recovery"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise FormatError(f"bad key file: {exc}") from exc


def create_folder(passphrase: str, *, kdf: KdfParams | None = None, master: bytes | None = None,
                  folder_id: bytes | None = None, recovery: bytes | None = None,
                  ) -> tuple[KeyFile, FolderKeys, str]:
    """A new folder key wrapped both ways: (key file, keys, recovery key text to show the user ONCE).

    The optional arguments fix the random values (known-answer tests); in use they are all fresh randomness."""
    if not passphrase:
        raise ValueError("an encrypted folder needs a passphrase")
    master = master if master is not None else os.urandom(MASTER_KEY_BYTES)
    folder_id = folder_id if folder_id is not None else os.urandom(FOLDER_ID_BYTES)
    recovery = recovery if recovery is not None else os.urandom(RECOVERY_KEY_BYTES)
    kdf = kdf if kdf is not None else KdfParams(os.urandom(16))
    keys = FolderKeys.from_master(folder_id, master)
    keyfile = KeyFile(folder_id, kdf, _wrap(kdf.derive(passphrase), LABEL_WRAP_PASSPHRASE, folder_id, master),
                      _wrap(recovery_kek(recovery), LABEL_WRAP_RECOVERY, folder_id, master))
    return keyfile, keys, format_recovery_key(recovery)
