"""Server-suite fixtures: one ferry-server process per backend shared by the suite, and a fresh user per test.

Modules that set `BACKENDS = ("sqlite", "pg-s3")` run against both SQLite+disk and PostgreSQL+S3 (the latter
skips, saying why, when tests/services.sh did not start the services). Tests that restart or kill the server use
the function-scoped `server` fixture from tests/conftest.py, or cloud.py's helpers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from cloud import CloudServer, cloud_args, fresh_database, require_postgres
from srvapi import Api, Server, UserFactory, new_user_name

from ferrysync.server.store.sql import SqlMetaStore


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    backends = getattr(metafunc.module, "BACKENDS", None)
    if backends and "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", backends, indirect=True, scope="session")


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def shared_server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if backend == "sqlite":
        proc = Server(tmp_path_factory.mktemp("shared-server"))
        proc.start()
        try:
            yield proc
        finally:
            proc.stop()
        return
    with cloud_args() as extra:
        cloud = CloudServer(tmp_path_factory.mktemp("shared-cloud-server"), extra_args=extra)
        cloud.start()
        try:
            yield cloud
        finally:
            cloud.stop()



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


@pytest.fixture(params=["sqlite", "postgresql"])
def meta(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlMetaStore]:
    """The metadata store alone, in process, on a fresh SQLite file and a fresh PostgreSQL database (skips, saying
    why, without tests/services.sh): for tests of the store's SQL itself."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'ferry.db'}"
        else:
            url = stack.enter_context(fresh_database(require_postgres()))
        store = SqlMetaStore.from_url(url)
        stack.callback(store.close)
        yield store
