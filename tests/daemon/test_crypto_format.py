"""Properties of the encrypted-folder format (daemon/crypto): determinism, padding, limits, tamper detection."""

from __future__ import annotations

import blake3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferrysync.daemon.crypto import (
    FileRecord,
    FolderKeys,
    FormatError,
    KeyFile,
    NameTooLong,
    TamperedError,
    WrongPassphrase,
    decrypt_block,
    decrypt_name,
    decrypt_path,
    decrypt_record,
    encrypt_block,
    encrypt_name,
    encrypt_path,
    encrypt_record,
)
from ferrysync.daemon.crypto.format import MAX_NAME_BYTES, MAX_SERVER_COMPONENT, block_pad_target, padme, unpad
from ferrysync.daemon.crypto.keys import KdfParams, create_folder, parse_recovery_key

FAST_KDF = KdfParams(salt=b"s" * 16, iterations=1, memory_kib=64, lanes=1)
KEYS = FolderKeys.from_master(b"f" * 16, b"k" * 32)
OTHER_FOLDER = FolderKeys.from_master(b"g" * 16, b"k" * 32)

names = st.text(st.characters(exclude_characters="/\x00", exclude_categories=["Cs"]), min_size=1,
                max_size=40).filter(lambda n: 0 < len(n.encode()) <= MAX_NAME_BYTES)


@given(names)
def test_names_round_trip_deterministically_and_fit_the_server(name: str) -> None:
    token = encrypt_name(KEYS, name)
    assert token == encrypt_name(KEYS, name)
    assert decrypt_name(KEYS, token) == name
    assert len(token.encode()) <= MAX_SERVER_COMPONENT
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_longest_name_fits_and_longer_is_a_clear_error() -> None:
    assert len(encrypt_name(KEYS, "é" * (MAX_NAME_BYTES // 2) + "x")) <= MAX_SERVER_COMPONENT
    with pytest.raises(NameTooLong, match="limited to 159 bytes"):
        encrypt_name(KEYS, "x" * (MAX_NAME_BYTES + 1))


def test_name_lengths_leak_only_in_steps_of_16() -> None:
    assert len({len(encrypt_name(KEYS, "a" * n)) for n in range(1, 16)}) == 1


def test_paths_are_encrypted_per_component() -> None:
    path = encrypt_path(KEYS, "docs/2026/report.txt")
    assert path.split("/")[2] == encrypt_name(KEYS, "report.txt")  # moving a folder keeps the names below it
    assert decrypt_path(KEYS, path) == "docs/2026/report.txt"


def test_ciphertexts_of_another_folder_do_not_authenticate() -> None:
    with pytest.raises(TamperedError):
        decrypt_name(OTHER_FOLDER, encrypt_name(KEYS, "a.txt"))
    with pytest.raises(TamperedError):
        decrypt_block(OTHER_FOLDER, encrypt_block(KEYS, b"data"))
    assert encrypt_block(OTHER_FOLDER, b"data") != encrypt_block(KEYS, b"data")  # no cross-folder dedup leak


@pytest.mark.parametrize("where", [0, 20, -1])
def test_any_flipped_byte_is_detected(where: int) -> None:
    ct = bytearray(encrypt_block(KEYS, b"precious"))
    ct[where] ^= 1
    with pytest.raises(TamperedError):
        decrypt_block(KEYS, bytes(ct))
    rec = bytearray(encrypt_record(KEYS, FileRecord(8, 1, False, (blake3.blake3(b"precious").hexdigest(),))))
    rec[where] ^= 0x80
    with pytest.raises(TamperedError):
        decrypt_record(KEYS, bytes(rec))


def test_bad_names_are_refused() -> None:
    with pytest.raises(FormatError):
        decrypt_name(KEYS, "not base64!")
    with pytest.raises(TamperedError):
        decrypt_name(KEYS, "A" * 43)


@given(st.integers(min_value=0, max_value=8 * 1024 * 1024))
def test_block_padding_hides_little_and_costs_little(n: int) -> None:
    target = block_pad_target(n)
    assert target > n
    assert target <= max(256, (n + 1) * 1.13)


def test_padme_examples() -> None:
    assert padme(1024 * 1024 + 1) == 1024 * 1024 + 32 * 1024
    assert [block_pad_target(n) for n in (0, 10, 255)] == [256, 256, 256]


@given(st.binary(max_size=600))
def test_blocks_round_trip(data: bytes) -> None:
    ct = encrypt_block(KEYS, data)
    assert len(ct) == block_pad_target(len(data)) + 16
    assert decrypt_block(KEYS, ct) == data


def test_unpad_refuses_bad_padding() -> None:
    with pytest.raises(FormatError):
        unpad(b"abc\x00\x00")


def test_wrong_passphrase_and_rewrap() -> None:
    keyfile, keys, recovery = create_folder("old", kdf=FAST_KDF)
    with pytest.raises(WrongPassphrase):
        keyfile.unlock("wrong")
    rewrapped = KeyFile.from_bytes(keyfile.rewrap(keys, "new").to_bytes())
    assert rewrapped.unlock("new") == keys
    assert rewrapped.unlock_recovery(recovery) == keys  # the recovery slot is kept
    assert rewrapped.wrapped_recovery == keyfile.wrapped_recovery
    with pytest.raises(WrongPassphrase):
        rewrapped.unlock("old")


def test_recovery_key_text_is_checked() -> None:
    with pytest.raises(WrongPassphrase, match="not a recovery key"):
        parse_recovery_key("ABCD-EFGH")


def test_key_file_refuses_unknown_versions_and_weak_parameters() -> None:
    keyfile, _, _ = create_folder("p", kdf=FAST_KDF)
    text = keyfile.to_bytes()
    with pytest.raises(FormatError, match="version 2"):
        KeyFile.from_bytes(text.replace(b'"version": 1', b'"version": 2'))
    with pytest.raises(FormatError):
        KeyFile.from_bytes(text.replace(b'"memory_kib": 64', b'"memory_kib": 1'))
    with pytest.raises(FormatError):
        KeyFile.from_bytes(b"{}")


def test_stored_key_round_trips() -> None:
    assert FolderKeys.load(KEYS.export()) == KEYS
    with pytest.raises(FormatError):
        FolderKeys.load("v9:x:y")
