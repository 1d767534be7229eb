"""Server-suite fixtures: one ferry-server process shared by the suite, and a fresh user (an Api) per test.

Tests that restart or kill the server use the function-scoped `server` fixture from tests/conftest.py instead.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from srvapi import Api, Server, new_user_name


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    proc = Server(tmp_path_factory.mktemp("shared-server"))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


UserFactory = Callable[[], Api]


def _new_user(server: Server) -> Api:
    name = new_user_name()
    server.add_user(name, f"{name}-pw")
    return Api(server.url, server.login(name, f"{name}-pw"), name)


@pytest.fixture
def make_user(shared_server: Server) -> UserFactory:
    """Create a new user on the shared server and return a logged-in Api for it."""
    return lambda: _new_user(shared_server)


@pytest.fixture(scope="module")
def module_user(shared_server: Server) -> Api:
    """One user for a whole module: for tests that must leave the tree unchanged (bad input)."""
    return _new_user(shared_server)


@pytest.fixture
def alice(make_user: UserFactory) -> Api:
    return make_user()


@pytest.fixture
def bob(make_user: UserFactory) -> Api:
    return make_user()
