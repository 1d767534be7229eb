"""Fixtures for the daemon tests: a journal, a marked sync root, a hash pool, live observers, a fake daemon."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ipc_fakedaemon import FakeDaemon
from remote_support import SharedServer, fresh_user_client, running_server
from util import wait_until

from ferrysync.daemon.journal import Journal
from ferrysync.daemon.local.chunker import ChunkSink
from ferrysync.daemon.local.hasher import HashPool, HashResult, digest_file
from ferrysync.daemon.local.marker import init_marker
from ferrysync.daemon.local.scanner import load_rules, walk
from ferrysync.daemon.local.watcher import LocalObserver
from ferrysync.daemon.model import Kind, LocalEntry
from ferrysync.daemon.remote import RemoteClient

FID = "f1"


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "state" / "journal.db")
    yield j
    j.close()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "Sync"
    r.mkdir()
    init_marker(r, FID)
    return r


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[FakeDaemon]:
    """A fake daemon's control server at tmp_path/home (test_cli.py overrides it with one that holds the lock)."""
    d = FakeDaemon(tmp_path / "home").start()
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture
def pool() -> Iterator[HashPool]:
    p = HashPool()
    yield p
    p.close()


class CountingPool(HashPool):
    """A HashPool that counts how often each file is read (to prove a file is hashed once)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: dict[str, int] = {}
        self._counting = threading.Lock()  # reads happen on the pool's threads and the caller's

    def hash_one(self, path: Path, sink_for: Callable[[Path], ChunkSink | None] = lambda path: None) -> HashResult:
        with self._counting:
            self.reads[path.name] = self.reads.get(path.name, 0) + 1
        return super().hash_one(path, sink_for)


@pytest.fixture
def counting_pool() -> Iterator[CountingPool]:
    p = CountingPool()
    yield p
    p.close()


@pytest.fixture
def start_observer(journal: Journal, root: Path, pool: HashPool) -> Iterator[Callable[..., LocalObserver]]:
    """Start LocalObservers (stopped at teardown); keyword arguments go to LocalObserver."""
    started: list[LocalObserver] = []

    def start(**kw: Any) -> LocalObserver:
        kw.setdefault("quiet_period", 0.2)
        obs = LocalObserver(kw.pop("journal", journal), FID, kw.pop("root", root), kw.pop("pool", pool), **kw)
        started.append(obs)
        obs.start()
        return obs

    yield start
    for obs in started:
        obs.stop()


def tree_mismatch(journal: Journal, root: Path, verify_hashes: int = 50) -> str | None:
    """None when the local tree equals a fresh walk of the disk (kinds and stat keys; some hashes re-checked)."""
    disk = {e.path: e for e in walk(root, load_rules(root))}
    tree: dict[str, LocalEntry] = {}
    for e in journal.iter_tree(FID, "local"):
        assert isinstance(e, LocalEntry)
        tree[e.path] = e
    if disk.keys() != tree.keys():
        missing, extra = sorted(disk.keys() - tree.keys()), sorted(tree.keys() - disk.keys())
        return f"not in tree: {missing[:5]} ({len(missing)}), not on disk: {extra[:5]} ({len(extra)})"
    for path, d in disk.items():
        t = tree[path]
        if (t.kind, t.size, t.mtime_ns, t.inode, t.link_target) != (d.kind, d.size, d.mtime_ns, d.inode, d.link_target):
            return f"{path}: tree {t} != disk {d}"
    files = [p for p, d in disk.items() if d.kind == Kind.FILE]
    for path in files[:: max(1, len(files) // verify_hashes)] if files else []:
        if tree[path].content_hash != digest_file(root / path).content_hash:
            return f"{path}: stale content hash"
    return None


def wait_tree_matches(journal: Journal, root: Path, obs: LocalObserver | None = None, timeout: float = 30.0) -> None:
    """Wait until the observer is idle and the local tree equals the disk."""
    last: list[str | None] = [None]

    def settled() -> bool:
        if obs is not None and not obs.idle():
            return False
        last[0] = tree_mismatch(journal, root)
        return last[0] is None

    try:
        wait_until(settled, timeout=timeout, interval=0.05, what="local tree == disk")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {last[0]}") from None


class LocalFS:
    """Helpers for tests of the local side (a fixture, so test modules never import conftest by name)."""

    fid = FID
    mismatch = staticmethod(tree_mismatch)
    wait_matches = staticmethod(wait_tree_matches)


@pytest.fixture
def lfs() -> type[LocalFS]:
    return LocalFS


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedServer]:
    """A real ferry-server shared by one test module (starting one is the slow part)."""
    with running_server(tmp_path_factory.mktemp("server-data")) as s:
        yield s


@pytest.fixture(scope="module")
def user_client(module_server: SharedServer) -> Iterator[RemoteClient]:
    """One new user on the module's server (adding users is slow too); each test uses its own paths and bytes."""
    with fresh_user_client(module_server) as c:
        yield c
