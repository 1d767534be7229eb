"""The web app on PostgreSQL + S3 with two server processes: a browser signed in through one is signed in on the
other (sessions are database rows), quotas set by the operator hold in both, and signing out ends it everywhere."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cloud import CloudServer, store_args, two_servers
from srvapi import ferry_server


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[CloudServer, CloudServer]]:
    with two_servers(tmp_path, ("--gc-interval", "0")) as servers:
        yield servers


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:300]
    return found.group(1)


def test_sessions_and_quotas_are_shared_by_every_process(pair: tuple[CloudServer, CloudServer]) -> None:
    one, two = pair
    browser = requests.Session()
    form = browser.get(f"{one.url}/web/login", timeout=10)
    r = browser.post(f"{one.url}/web/login", data={"user": "alice", "password": "alice-pw",
                                                   "csrf": _csrf(form.text)},
                     headers={"Origin": one.url}, allow_redirects=False, timeout=30)
    assert r.status_code == 303
    page = browser.get(f"{two.url}/web/account", timeout=10, allow_redirects=False)  # the other process
    assert page.status_code == 200
    csrf = _csrf(page.text)
    up = browser.post(f"{two.url}/web/upload", params={"path": "Docs/a.txt"}, data=b"x" * 700,
                      headers={"X-CSRF-Token": csrf, "Origin": two.url}, timeout=30)
    assert up.json()["ok"] is True
    assert browser.get(f"{one.url}/web/download/Docs/a.txt", timeout=10).content == b"x" * 700

    res = ferry_server("user", "quota", "alice", "1000", "--data", str(one.data),
                       *store_args(one.extra_args, blocks=False))
    assert res.returncode == 0, res.stderr
    over = browser.post(f"{one.url}/web/upload", params={"path": "Docs/b.txt"}, data=b"y" * 700,
                        headers={"X-CSRF-Token": csrf, "Origin": one.url}, timeout=30)
    assert over.status_code == 507
    assert "storage is full" in over.json()["error"]

    token = browser.cookies.get("ferry_web")
    browser.post(f"{two.url}/web/logout", data={"csrf": csrf}, headers={"Origin": two.url}, timeout=10)
    replayed = requests.get(f"{one.url}/web/files/", cookies={"ferry_web": token or ""}, timeout=10,
                            allow_redirects=False)
    assert replayed.status_code == 303  # the old cookie is dead on the other process too
