"""Delta sync survives encryption: a 1-byte insert in a 50 MiB encrypted file stores at most 2 chunks (+ its file
record), a copy and a rename store nothing. Measured by bench/e2ee_delta.py's own code against a real server."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from util import ServerProcess

BENCH = Path(__file__).resolve().parents[2] / "bench" / "e2ee_delta.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("e2ee_delta", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_one_byte_insert_copy_and_rename_in_a_50_mib_encrypted_file(server: ServerProcess, tmp_path: Path) -> None:
    token = server.login("alice", "alice-pw")
    got = _bench().measure(server.url, token, tmp_path, encrypted=True, mib=50)
    assert got["first_upload"]["blocks"] == got["chunks_in_file"] + 1  # every chunk, and the file record
    assert got["insert_1_byte"]["blocks"] <= 3  # at most 2 chunks + the new file record
    assert got["insert_1_byte"]["account_bytes"] <= 2 * 4_400_000 + 4096  # 2 chunks at most, padded (max 4 MiB)
    assert got["copy_same_content"]["blocks"] == 0
    assert got["rename"]["blocks"] == 0
    assert got["rename"]["account_bytes"] == 0
