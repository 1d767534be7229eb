"""PostgreSQL and S3 for the server tests: fresh databases and buckets on the services tests/services.sh starts.

FERRY_TEST_POSTGRES_URL (a superuser URL) and FERRY_TEST_S3_ENDPOINT name the services; without them the tests
that need them skip and say why. When they are set but unreachable, the tests fail: CI must not skip silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from srvapi import Server, ferry_server
from util import wait_until

PG_ENV = "FERRY_TEST_POSTGRES_URL"
S3_ENV = "FERRY_TEST_S3_ENDPOINT"


def require_services() -> tuple[str, str]:
    pg, s3 = os.environ.get(PG_ENV), os.environ.get(S3_ENV)
    if not pg or not s3:
        pytest.skip(f"PostgreSQL+S3 backend: set {PG_ENV} and {S3_ENV} (bash tests/services.sh pytest ...)")
    return pg, s3


def require_postgres() -> str:
    pg = os.environ.get(PG_ENV)
    if not pg:
        pytest.skip(f"PostgreSQL: set {PG_ENV} (bash tests/services.sh pytest ...)")
    return pg


def _admin(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=10)


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new empty database on the test server (dropped afterwards); yields its URL."""
    name = "ferry_" + uuid.uuid4().hex[:12]
    with _admin(admin_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with _admin(admin_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))


def bucket_keys(endpoint: str, bucket: str) -> list[str]:
    client = s3_client(endpoint)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


@contextmanager
def fresh_bucket(endpoint: str) -> Iterator[str]:
    """A new bucket (the S3 service may still be warming up: retry its creation); emptied and removed after."""
    client = s3_client(endpoint)
    name = "ferry-" + uuid.uuid4().hex[:12]
    wait_until(lambda: client.create_bucket(Bucket=name) is not None, timeout=60, what=f"bucket {name}")
    try:
        yield name
    finally:
        for key in bucket_keys(endpoint, name):
            client.delete_object(Bucket=name, Key=key)
        client.delete_bucket(Bucket=name)


@contextmanager
def cloud_args() -> Iterator[list[str]]:
    """Server arguments for a fresh PostgreSQL database and S3 bucket."""
    pg, s3 = require_services()
    with fresh_database(pg) as db, fresh_bucket(s3) as bucket:
        yield ["--database-url", db, "--blocks", f"s3://{bucket}/blocks", "--s3-endpoint-url", s3]


def store_args(extra: list[str], blocks: bool = True) -> list[str]:
    """The store-locating arguments among server arguments (the database's is what `user add` needs too)."""
    wanted = ("--database-url", "--blocks", "--s3-endpoint-url") if blocks else ("--database-url",)
    out: list[str] = []
    for i, arg in enumerate(extra):
        if arg in wanted:
            out += [arg, extra[i + 1]]
    return out


class CloudServer(Server):
    """A ferry-server process whose store arguments also go to the operator commands (user add, gc)."""

    def add_user(self, name: str, password: str) -> None:
        res = ferry_server("user", "add", name, "--password-stdin", "--data", str(self.data),
                           *store_args(self.extra_args, blocks=False), stdin=password)
        assert res.returncode == 0, res.stderr

    def gc(self, *args: str) -> str:
        res = ferry_server("gc", "--data", str(self.data), *store_args(self.extra_args), *args)
        assert res.returncode == 0, res.stderr
        return res.stdout


def start_server(data: Path, extra: list[str]) -> CloudServer:
    data.mkdir(parents=True, exist_ok=True)
    return CloudServer(data, extra_args=extra).start()  # type: ignore[return-value]


@contextmanager
def two_servers(tmp_path: Path, args: tuple[str, ...] = ()) -> Iterator[tuple[CloudServer, CloudServer]]:
    """Two server processes on one fresh PostgreSQL database and one bucket, and a user alice."""
    with cloud_args() as extra:
        first = start_server(tmp_path / "one", [*extra, *args])
        try:
            second = start_server(tmp_path / "two", [*extra, *args])
            try:
                first.add_user("alice", "alice-pw")
                yield first, second
            finally:
                second.stop()
        finally:
            first.stop()

