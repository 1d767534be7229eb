"""An encrypted folder's local index: plaintext chunk hash -> ciphertext block name and length (SQLite).

The daemon's trees speak of plaintext chunks (the local tree hashes what is on disk; the remote tree is filled
from decrypted file records), while the server names blocks by the BLAKE3 of their ciphertext. This index joins
the two. Rows are `verified` when this device made the ciphertext itself or decrypted and checked it; a row learnt
from a file record's block list (which the server could have altered) is only a hint for downloads, which verify
what they get. Only verified rows let an upload skip a block. Losing this file loses nothing: uploads re-encrypt
and ask the server, downloads re-learn it at the next listing.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    plain TEXT PRIMARY KEY,
    cipher TEXT NOT NULL,
    length INTEGER NOT NULL,
    verified INTEGER NOT NULL
);
"""


class BlockMap:
    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get(self, plain: str, *, verified_only: bool = False) -> tuple[str, int] | None:
        """(cipher name, ciphertext length) of a plaintext chunk, or None."""
        with self._lock:
            row = self._db.execute("SELECT cipher, length, verified FROM blocks WHERE plain = ?", (plain,)).fetchone()
        if row is None or (verified_only and not row[2]):
            return None
        return str(row[0]), int(row[1])

    def put(self, rows: Iterable[tuple[str, str, int]], *, verified: bool) -> None:
        """Record (plain, cipher, length) rows; a hint never replaces a verified row."""
        rows = list(rows)
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN")
            try:
                if verified:
                    self._db.executemany("INSERT OR REPLACE INTO blocks VALUES (?, ?, ?, 1)", rows)
                else:
                    self._db.executemany(
                        "INSERT INTO blocks VALUES (?, ?, ?, 0) ON CONFLICT(plain) DO UPDATE SET "
                        "cipher = excluded.cipher, length = excluded.length WHERE verified = 0", rows)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # a failed COMMIT may have rolled back already (journal/store.py)
                    self._db.execute("ROLLBACK")
                raise
