"""Operator mistakes with the cloud options get one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cloud import fresh_database, require_services
from srvapi import ferry_server

from ferrysync.server.blocks.s3 import S3Location
from ferrysync.server.pgnotify import libpq_url, parse_payload


def test_s3_locations_and_notification_payloads_parse() -> None:
    assert S3Location.parse("s3://bucket") == S3Location("bucket", "")
    assert S3Location.parse("s3://bucket/a/b/") == S3Location("bucket", "a/b/")
    for bad in ("bucket/x", "s3://", "s3:///x"):
        with pytest.raises(ValueError, match=r"not an s3:// URL|no bucket"):
            S3Location.parse(bad)
    assert parse_payload("12:345") == (12, 345)
    assert parse_payload("hello") is None
    assert parse_payload("1:-2") is None
    assert libpq_url("postgresql+psycopg://u:p@h:5/db") == "postgresql://u:p@h:5/db"


@pytest.mark.parametrize(("args", "message"), [
    (["gc"], "--data is required"),
    (["gc", "--database-url", "sqlite:///x.db"], "--data is required"),
    (["gc", "--data", ".", "--blocks", "/srv/blocks"],
     "--blocks must be hybrid, disk, packed or an s3://BUCKET/PREFIX URL"),
])
def test_missing_or_wrong_locations_are_refused(args: list[str], message: str) -> None:
    res = ferry_server(*args)
    assert res.returncode == 2
    assert message in res.stderr
    assert "Traceback" not in res.stderr


def test_a_missing_bucket_is_a_clear_error(tmp_path: Path) -> None:
    pg, s3 = require_services()
    with fresh_database(pg) as db:
        res = ferry_server("gc", "--database-url", db, "--blocks", "s3://no-such-bucket-here/x",
                           "--s3-endpoint-url", s3)
    assert res.returncode == 1
    assert "cannot use the block store" in res.stderr
    assert "no such bucket" in res.stderr
    assert "Traceback" not in res.stderr
    assert os.listdir(tmp_path) == []
