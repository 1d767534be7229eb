"""Helpers for the data-loss-class tests: what the server holds, what a daemon has heard of, what it deleted.

A test of a loss class asserts what a user would see: the files on every device's disk, the server's live tree
and revisions (read through the HTTP API with a probe device's own token), and the daemons' own accounts of what
they deleted (`ferry activity`) or set aside (`ferry trash list`, conflict copies).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests
from devices import Device, same_trees, tree
from util import wait_until

CONFLICT = "conflicted copy"
T = TypeVar("T")


class ServerView:
    """The server's state for alice under one remote folder, read through the public API."""

    def __init__(self, server: Any, prefix: str = "Shared") -> None:
        self.url = str(server.url)
        self.token = str(server.login("alice", "alice-pw", "probe"))
        self.prefix = prefix

    def _get(self, route: str, **params: Any) -> Any:
        r = requests.get(self.url + route, params=params, headers={"Authorization": f"Bearer {self.token}"},
                         timeout=10)
        r.raise_for_status()
        return r.json()

    def _rel(self, server_path: str) -> str | None:
        head = self.prefix + "/"
        return server_path[len(head):] if server_path.startswith(head) else None

    def entries(self) -> dict[str, dict[str, Any]]:
        """Live entries under the folder: relative path -> entry (files and folders)."""
        live: dict[str, dict[str, Any]] = {}
        cursor = 0
        while True:
            page = self._get("/v1/changes", cursor=cursor, limit=1000)
            for e in page["entries"]:
                rel = self._rel(e["path"])
                if rel is None:
                    continue
                if e["deleted"]:
                    live.pop(rel, None)
                else:
                    live[rel] = e
            cursor = page["cursor"]
            if not page["has_more"]:
                return live

    def block_bytes(self, blocks: list[str]) -> bytes:
        out = b""
        for h in blocks:
            r = requests.get(f"{self.url}/v1/blocks/{h}", headers={"Authorization": f"Bearer {self.token}"},
                             timeout=30)
            r.raise_for_status()
            out += r.content
        return out

    def files(self) -> dict[str, bytes]:
        """Every live file under the folder with its content, as a new device would get it."""
        return {p: self.block_bytes(e["blocks"]) for p, e in self.entries().items() if e["kind"] == "file"}

    def revisions(self, rel: str) -> list[dict[str, Any]]:
        """Every kept revision of a path, newest first (deletions included)."""
        return list(self._get("/v1/revisions", path=f"{self.prefix}/{rel}")["revisions"])

    def revision_counts(self, paths: list[str]) -> dict[str, int]:
        return {p: len(self.revisions(p)) for p in paths}


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def files_of(d: Device) -> dict[str, bytes]:
    """Files (not folders) a user sees in the device's folder."""
    return {p: c for p, c in tree(d.folder).items() if c is not None}


def conflict_copies(d: Device) -> list[str]:
    return sorted(p for p in tree(d.folder) if CONFLICT in p)


def local_deletions(d: Device) -> list[str]:
    """Paths the daemon deleted on this disk (activity: deleted, local), newest first."""
    return [e["path"] for e in d.json("activity", "-n", "1000")["activity"]
            if e["action"] == "deleted" and e["direction"] == "local"]


def remote_deletions(d: Device) -> list[str]:
    """Paths the daemon deleted on the server because they were deleted here (activity: deleted, up)."""
    return [e["path"] for e in d.json("activity", "-n", "1000")["activity"]
            if e["action"] == "deleted" and e["direction"] == "up"]


def journal_paths(d: Device, tree_name: str) -> set[str]:
    """Paths in one of the daemon's trees (read-only: to know what the daemon has heard of, not to steer it)."""
    assert tree_name in ("local", "remote", "synced")
    db = d.home / "state" / "journal.db"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return {str(r[0]) for r in con.execute(f"SELECT path FROM {tree_name}")}
    finally:
        con.close()


def folder_state(d: Device) -> tuple[str, str]:
    folders = d.status()["folders"]
    assert len(folders) == 1, folders
    return str(folders[0]["state"]), str(folders[0]["message"])


def wait_for(pred: Callable[[], T], what: str, *devices: Device, timeout: float = 30) -> T:
    """`wait_until`, and on a timeout what each device said at that moment (status, errors, log tail)."""
    try:
        return wait_until(pred, timeout=timeout, what=what)
    except AssertionError as exc:
        report = [str(exc)]
        for d in devices:
            try:
                report.append(f"--- {d.name}: status {d.status()}\nerrors {d.json('errors')}")
            except Exception as status_exc:  # noqa: BLE001 - a report while failing: the daemon may be the problem
                report.append(f"--- {d.name}: no status ({status_exc})")
            report.append(d.log_tail())
        raise AssertionError("\n".join(report)) from None


def converge(*devices: Device, timeout: float = 45) -> None:
    wait_for(lambda: same_trees(*devices), "the folders to hold the same files", *devices, timeout=timeout)


def settle(*devices: Device, timeout: float = 45) -> None:
    """Every device holds the same files and says it is done (derived from its trees, asked of the server)."""
    converge(*devices, timeout=timeout)
    for d in devices:
        d.wait_synced(timeout)
    converge(*devices, timeout=timeout)
