"""Fixtures shared by every suite: a real ferry-server on 127.0.0.1 with users, started as a process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from util import ServerProcess, free_port


@pytest.fixture
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[type]:
    started: list[ServerProcess] = []

    class Factory:
        @staticmethod
        def make(extra_args: list[str] | None = None, data: Path | None = None) -> ServerProcess:
            d = data or tmp_path_factory.mktemp("server-data")
            s = ServerProcess(data=d, port=free_port(), log=d.parent / f"{d.name}.log",
                              extra_args=list(extra_args or []))
            started.append(s)
            return s.start()

    yield Factory
    for s in started:
        s.stop()


@pytest.fixture
def server(server_factory: type) -> ServerProcess:
    """A fresh server with users alice (password 'alice-pw') and bob ('bob-pw')."""
    s: ServerProcess = server_factory.make()
    s.add_user("alice", "alice-pw")
    s.add_user("bob", "bob-pw")
    return s
