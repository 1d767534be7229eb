"""End-to-end encryption of a folder (format v1, docs/encryption.md): pure functions, no I/O.

format: constants, errors, padding and encodings; keys: the folder key, its subkeys and the key file that wraps it
under a passphrase and a recovery key; names: path components; blocks: chunk contents and the per-file record.
Every primitive comes from `cryptography` (AES-SIV, HKDF-SHA256, Argon2id); nothing here is hand-written crypto.
"""

from ferrysync.daemon.crypto.blocks import FileRecord, decrypt_block, decrypt_record, encrypt_block, encrypt_record
from ferrysync.daemon.crypto.format import (
    KEYFILE_NAME,
    FormatError,
    NameTooLong,
    TamperedError,
    WrongPassphrase,
)
from ferrysync.daemon.crypto.keys import FolderKeys, KdfParams, KeyFile, create_folder, format_recovery_key
from ferrysync.daemon.crypto.names import decrypt_name, decrypt_path, encrypt_name, encrypt_path

__all__ = [
    "KEYFILE_NAME",
    "FileRecord",
    "FolderKeys",
    "FormatError",
    "KdfParams",
    "KeyFile",
    "NameTooLong",
    "TamperedError",
    "WrongPassphrase",
    "create_folder",
    "decrypt_block",
    "decrypt_name",
    "decrypt_path",
    "decrypt_record",
    "encrypt_block",
    "encrypt_name",
    "encrypt_path",
    "encrypt_record",
    "format_recovery_key",
]
