"""A file uploaded in the web app reaches a desktop, and is cut into the very blocks the desktop cuts: a copy of it
made on the desktop costs no block upload at all (dedup holds across the two ways in)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable

import requests
from devices import Device
from util import ServerProcess, wait_until


def uploaded_bytes(server: ServerProcess) -> int:
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    found = re.search(r"^ferry_block_bytes_uploaded_total (\S+)$", text, re.MULTILINE)
    return int(float(found.group(1))) if found else 0


def test_a_web_upload_syncs_down_and_dedups_with_the_desktop(server: ServerProcess,
                                                             make_device: Callable[..., Device]) -> None:
    laptop = make_device("laptop")
    browser = requests.Session()
    form = browser.get(f"{server.url}/web/login", timeout=10).text
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token
    browser.post(f"{server.url}/web/login", data={"user": "alice", "password": "alice-pw", "csrf": token.group(1)},
                 headers={"Origin": server.url}, timeout=30)
    page = browser.get(f"{server.url}/web/files/", timeout=10).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf
    data = os.urandom(6 * 1024 * 1024 + 99)
    r = browser.post(f"{server.url}/web/upload", params={"path": "Shared/photo.raw"}, data=data, timeout=60,
                     headers={"X-CSRF-Token": csrf.group(1), "Origin": server.url})
    assert r.json()["ok"] is True
    target = laptop.folder / "photo.raw"
    wait_until(lambda: target.exists() and target.read_bytes() == data, timeout=60, what="the web upload on disk")

    before = uploaded_bytes(server)
    assert before >= len(data)  # the web upload is counted: the metric is there to compare
    shutil.copyfile(target, laptop.folder / "copy.raw")
    laptop.wait_synced()
    assert uploaded_bytes(server) == before, "the desktop uploaded blocks the web upload had stored already"
    listing = browser.get(f"{server.url}/web/files/Shared", timeout=10).text
    assert "copy.raw" in listing
