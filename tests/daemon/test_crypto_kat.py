"""Known answers for the encrypted-folder format v1 (docs/encryption.md): today's folders must stay readable.

Every value below was produced once by format v1 from the fixed inputs in `_keyfile`; a change that breaks one of
them breaks every existing encrypted folder and needs a new format version instead (the old one still read).
"""

from __future__ import annotations

import blake3
import pytest

from ferrysync.daemon.crypto import (
    FileRecord,
    FolderKeys,
    KeyFile,
    WrongPassphrase,
    decrypt_block,
    decrypt_name,
    decrypt_record,
    encrypt_block,
    encrypt_name,
    encrypt_record,
)
from ferrysync.daemon.crypto.keys import KdfParams, create_folder

PASSPHRASE = "kat passphrase"
RECOVERY = "IJBE-EQSC-IJBE-EQSC-IJBE-EQSC-IJBE-EQSC-IJBE-EQSC-IJBE-EQSC-IJBA"
KEYFILE = b"""{
 "folder_id": "ZGVmZ2hpamtsbW5vcHFycw",
 "format": "ferry-e2ee",
 "kdf": {
  "alg": "argon2id",
  "iterations": 1,
  "lanes": 1,
  "memory_kib": 64,
  "salt": "AAECAwQFBgcICQoLDA0ODw"
 },
 "version": 1,
 "wrapped": {
  "passphrase": "cW7SlvnQw0evgBxm90JrYqXVnWm7z9MOLa0k0EOLH6ImpNqF3BudyRco3d8HKr6N",
  "recovery": "L9B0zWiKiEcqnXWiZgqr5heVHsmo0K2VXWgHf_rqdmFxNXI-cRBedpjsV2mX9ddG"
 }
}
"""
NAMES = {
    "hello.txt": "pusQJHGDgziOA-qAB1MksVMLTCWfHg0zBYtW8bddoAg",
    "Ünïcode 名前": "b3aZkG7U06Jz10zuu67mO4k2OeQMcug_dKrMDGiegeTl0O8DeWj8P857z5Fojtmc",
}
BLOCK_HELLO = bytes.fromhex(
    "1c415f5901b0895b9642c86f67e0e2eda4814b24d7ef1b4d3c163118b5ccfda5cba931a62032702d8029de8aeff8122137babe9a"
    "79587e21477b695cff9c4b60b4181874708b2e8ea8ad678a380702325220f866ad763d8fb25396c4b090716c6a5bbcebc42d1082"
    "765cec745a38537ac7e77cf40603398a3befef1790d166c2f829f27f309e48f315528f85fd1eb3e4bd5a1ba3a006f8bb9264b8b3"
    "3284cf195c164364ecb09101c28eb0fb8ec1b6d96667c0b013b59baaed6d5695783e0a15536f08aae14d8cf9baa53bdb25ea35f1"
    "aad53d2095b9a96a176eb1c678ce0205e2a24e69c38fa3c7f4d592c7c2422b2b443049c833bc67e31ed06fc3a57cd3974d6b3107"
    "1c6cf8a398a62789cd5ca64a")
BLOCK_HELLO_ID = "e2f4fdbba4fc4871cbf3890db52315baa86299a9cdb7522ad5568b2b05c7f68c"
RECORD = bytes.fromhex(
    "2d756eb59f50c3d7e4026fd7a60b21e69b10bc5f4733883363a2a9cbc1eace18f1d1cf213cbbbf4522d0b96b27b80d19a120f54b"
    "3c04726e082e6ba7d6c78a8515a59d9cf78b9e889363dbf01388b40974a2279e4639c0b8d65d201f28613be4018d1ed4083e0bc8"
    "df3b8e35bc561a06d1497ea632a707a0c46692b85c17545b122c8ddd9c99a55110ad0b3c03685fa15719a01c805acee02c95c71f"
    "3f0e1f22e91163e0a2b222c126243a93729d83d9ff964b9d1a82dfc7bac5ebde3d07506eaccd51177c40dd482d5d701bc9d5c484"
    "e27a63b9ba7ebfe45b3123fb2b7b521e7a9d1c912349372e0b14f23ae9ea1353b20709f229e7e4e09e3c0d70b27baf255ec6ad13"
    "a5445918fa7be47bbbd2e243")
HELLO_HASH = blake3.blake3(b"hello world").hexdigest()


def _keyfile() -> tuple[KeyFile, FolderKeys, str]:
    kdf = KdfParams(salt=bytes(range(16)), iterations=1, memory_kib=64, lanes=1)
    return create_folder(PASSPHRASE, kdf=kdf, master=bytes(range(32)), folder_id=bytes(range(100, 116)),
                         recovery=b"\x42" * 32)


def test_key_file_and_recovery_key_are_reproduced() -> None:
    keyfile, _, recovery = _keyfile()
    assert keyfile.to_bytes() == KEYFILE
    assert recovery == RECOVERY


def test_stored_key_file_unlocks_with_passphrase_and_recovery_key() -> None:
    keyfile = KeyFile.from_bytes(KEYFILE)
    keys = keyfile.unlock(PASSPHRASE)
    assert keys.master == bytes(range(32))
    assert keyfile.unlock_recovery(RECOVERY.lower().replace("-", " ")) == keys
    with pytest.raises(WrongPassphrase):
        keyfile.unlock("kat passphrasE")


def test_names_blocks_and_records_decrypt_from_stored_ciphertext() -> None:
    keys = KeyFile.from_bytes(KEYFILE).unlock(PASSPHRASE)
    for plain, token in NAMES.items():
        assert encrypt_name(keys, plain) == token
        assert decrypt_name(keys, token) == plain
    assert encrypt_block(keys, b"hello world") == BLOCK_HELLO
    assert blake3.blake3(BLOCK_HELLO).hexdigest() == BLOCK_HELLO_ID  # the server's name for the block
    assert decrypt_block(keys, BLOCK_HELLO) == b"hello world"
    record = FileRecord(11, 1700000000123456789, True, (HELLO_HASH,))
    assert encrypt_record(keys, record) == RECORD
    assert decrypt_record(keys, RECORD) == record
