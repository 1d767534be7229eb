"""`ferry-server user add --admin --quota / passwd / quota / admin / list / remove`: what operators run."""

from __future__ import annotations

import subprocess
from pathlib import Path

from util import bin_path

from ferrysync.server.passwords import verify_password
from ferrysync.server.store.engine import default_url
from ferrysync.server.store.sql import SqlMetaStore


def run(data: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([bin_path("ferry-server"), "user", *args, "--data", str(data)], input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_operator_user_commands(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run(data, "add", "ann", "--admin", "--quota", "2GiB", "--password-stdin", stdin="pw1\n").returncode == 0
    assert run(data, "add", "ben", "--password-stdin", stdin="pw2\n").returncode == 0
    bad = run(data, "quota", "ben", "lots")
    assert bad.returncode == 2
    assert "not a size" in bad.stderr
    assert run(data, "quota", "ben", "500MB").returncode == 0
    assert run(data, "admin", "ann", "off").returncode == 0
    assert run(data, "passwd", "ben", "--password-stdin", stdin="new-pw\n").returncode == 0
    missing = run(data, "quota", "nobody", "1G")
    assert missing.returncode == 1
    assert "no user 'nobody'" in missing.stderr
    listing = run(data, "list").stdout
    assert "ann\t0 device(s)\t0 bytes used\tquota 2147483648 bytes" in listing
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
    assert run(data, "quota", "ben", "none").returncode == 0
    assert "ben\t0 device(s)\t0 bytes used\tno quota" in run(data, "list").stdout
