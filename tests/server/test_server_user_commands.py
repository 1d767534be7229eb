"""`ferry-server user add --admin --quota / passwd / quota / admin / list`: what operators run (in process, through
the command's own `main`, which is what the console script calls: a process per command would cost seconds)."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from ferrysync.server.cli import main
from ferrysync.server.passwords import verify_password
from ferrysync.server.store.engine import default_url
from ferrysync.server.store.sql import SqlMetaStore


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(autouse=True)
def _keep_umask() -> Iterator[None]:
    """`main` sets the process's umask (server/datadir.py); give the test process its own back afterwards."""
    mask = os.umask(0o022)
    os.umask(mask)
    yield
    os.umask(mask)


def run(data: Path, *args: str, stdin: str = "") -> Ran:
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(["user", *args, "--data", str(data)])
            except SystemExit as exc:  # argparse refusing an argument
                code = int(exc.code or 0)
    finally:
        sys.stdin = saved
    return Ran(code, out.getvalue(), err.getvalue())


def test_operator_user_commands(tmp_path: Path) -> None:
    data = tmp_path / "data"
    added = run(data, "add", "ann", "--admin", "--quota", "2GiB", "--password-stdin", stdin="pw1\n")
    assert added.stdout.strip() == "added user ann (admin)"
    store = SqlMetaStore.from_url(default_url(data))
    try:
        ann = store.get_user("ann")
        assert ann is not None
        assert ann[0].quota_bytes == 2 * 1024**3
        assert ann[0].is_admin
    finally:
        store.close()
    assert run(data, "add", "ben", "--password-stdin", stdin="pw2\n").returncode == 0
    bad = run(data, "quota", "ben", "lots")
    assert bad.returncode == 2
    assert "not a size" in bad.stderr
    assert run(data, "quota", "ben", "500MB").returncode == 0
    assert run(data, "quota", "ann", "none").returncode == 0
    assert run(data, "admin", "ann", "off").returncode == 0
    assert run(data, "passwd", "ben", "--password-stdin", stdin="new-pw\n").returncode == 0
    missing = run(data, "quota", "nobody", "1G")
    assert missing.returncode == 1
    assert "no user 'nobody'" in missing.stderr
    listing = run(data, "list").stdout
    assert "ann\t0 device(s)\t0 bytes used\tno quota" in listing
    assert "ben\t0 device(s)\t0 bytes used\tquota 500000000 bytes" in listing
    store = SqlMetaStore.from_url(default_url(data))
    try:
        ann, ben = store.get_user("ann"), store.get_user("ben")
        assert ann is not None
        assert ben is not None
        assert not ann[0].is_admin
        assert verify_password(ben[1], "new-pw")
    finally:
        store.close()
