"""Fixtures shared by every suite: a real ferry-server on 127.0.0.1 with users, started as a process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from util import ServerFactory, ServerProcess


@pytest.fixture
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    factory = ServerFactory(tmp_path_factory)
    yield factory
    for s in factory.started:
        s.stop()


@pytest.fixture
def server(server_factory: ServerFactory) -> ServerProcess:
    """A fresh server with users alice (password 'alice-pw') and bob ('bob-pw')."""
    s = server_factory.make()
    s.add_user("alice", "alice-pw")
    s.add_user("bob", "bob-pw")
    return s
