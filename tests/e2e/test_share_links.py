"""Share links end to end: a real daemon and server; `ferry share`, `ferry shares` and `ferry unshare` as a user
runs them, and the link fetched with plain HTTP by someone without an account; and a visitor opening a password
link in a real browser (Debian's chromium through Playwright: tests/e2e/webui_browser.py)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import requests
from devices import Device
from srvapi import Api
from util import ServerProcess
from webui_browser import TIMEOUT_MS, browser, need_browser, shot


def test_share_list_fetch_and_unshare_through_the_cli(make_device: Callable[..., Device]) -> None:
    a = make_device("laptop")
    (a.folder / "report.txt").write_text("quarterly numbers")
    (a.folder / "album" / "2026").mkdir(parents=True)
    (a.folder / "album" / "2026" / "beach.jpg").write_bytes(b"\xff\xd8" + bytes(range(256)) * 900)
    (a.folder / "album" / "cover.txt").write_text("cover")
    a.wait_synced()

    made = a.ferry("share", str(a.folder / "report.txt"), "--expires", "7d")
    url = made.stdout.strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_-]{43}", url), made.stdout
    assert "/Shared/report.txt" in made.stderr  # the server path: the folder's remote prefix + its path
    assert requests.get(url + "/download", timeout=30).content == b"quarterly numbers"

    locked = a.ferry("share", str(a.folder / "album"), "--password-stdin", "--json", input="hunter2\n")
    album = a.json("shares")["shares"]
    assert {s["path"] for s in album} == {"Shared/report.txt", "Shared/album"}
    folder_url = re.search(r'"url": "([^"]+)"', locked.stdout)
    assert folder_url is not None
    visitor = requests.Session()
    form = visitor.get(folder_url.group(1), timeout=30)
    assert 'type="password"' in form.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    opened = visitor.post(folder_url.group(1), data={"password": "hunter2", "csrf": csrf.group(1)}, timeout=30)
    assert opened.status_code == 200
    assert "beach.jpg" in opened.text
    archive = zipfile.ZipFile(io.BytesIO(visitor.get(folder_url.group(1) + "/download", timeout=30).content))
    assert archive.read("album/2026/beach.jpg") == (a.folder / "album" / "2026" / "beach.jpg").read_bytes()
    assert archive.read("album/cover.txt") == b"cover"

    listing = a.ferry("shares").stdout
    assert "Shared/report.txt" in listing
    assert "/Shared/album/" in listing
    report = next(s for s in a.json("shares")["shares"] if s["path"] == "Shared/report.txt")
    assert report["downloads"] == 1
    assert report["expires_at"] is not None

    done = a.ferry("unshare", report["id"])
    assert report["id"] in done.stdout
    assert requests.get(url, timeout=30).status_code == 410
    assert [s["path"] for s in a.json("shares")["shares"]] == ["Shared/album"]

    # Mistakes get a clear error and change nothing.
    again = a.ferry("unshare", report["id"], check=False)
    assert again.returncode == 1
    assert "no share link" in again.stderr
    missing = a.ferry("share", str(a.folder / "not-there.txt"), check=False)
    assert missing.returncode == 1
    assert "not on the server" in missing.stderr
    bad = a.ferry("share", str(a.folder / "report.txt"), "--expires", "soon", check=False)
    assert bad.returncode == 2
    assert "--expires" in bad.stderr
    outside = a.ferry("share", "/../etc/passwd", check=False)
    assert outside.returncode == 1
    assert len(a.json("shares")["shares"]) == 1

    # A path in the cloud works too (here the same file as the folder's, by its server path).
    by_server_path = a.ferry("share", "/Shared/album/cover.txt").stdout.strip()
    assert requests.get(by_server_path + "/download", timeout=30).content == b"cover"
    # The synced folder itself is its remote folder.
    whole = a.ferry("share", str(a.folder)).stdout.strip()
    names = zipfile.ZipFile(io.BytesIO(requests.get(whole + "/download", timeout=30).content)).namelist()
    assert {"Shared/report.txt", "Shared/album/cover.txt", "Shared/album/2026/beach.jpg"} <= set(names)


def test_a_visitor_opens_a_password_link_in_a_real_browser(server: ServerProcess, tmp_path: Path) -> None:
    need_browser()
    owner = Api(server.url, server.login("alice", "alice-pw"), "alice")
    owner.put_file("Trip/plan.txt", b"day 1: the coast")
    owner.put_file("Trip/photos/beach.jpg", b"\xff\xd8 a beach")
    made = owner.ok(owner.post("/v1/shares", json={"path": "Trip", "password": "s3cret pass"}), 201)
    violations: list[str] = []
    with browser() as b:
        context = b.new_context(accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
        page.goto(made["url"])
        assert page.locator("h1").inner_text() == "Protected link"  # nothing shared is named before the password
        assert "Trip" not in page.content()
        shot(page, "share-password")
        page.fill("#password", "wrong")
        page.click("button[type=submit]")
        page.wait_for_selector("text=That password is not right.")
        assert "plan.txt" not in page.content()
        page.fill("#password", "s3cret pass")
        page.click("button[type=submit]")
        page.wait_for_selector("text=Download all (zip)")
        assert page.locator("h1").inner_text() == "Trip"
        assert page.url == made["url"]
        assert "photos/beach.jpg" in page.locator("table").inner_text()
        shot(page, "share-folder")
        grant = next(c for c in context.cookies() if c["name"] == "ferry_link")
        assert grant["httpOnly"] is True
        assert grant["sameSite"] == "Strict"
        assert grant["path"] == "/s/" + made["token"]
        with page.expect_download() as caught:
            page.click("tr.file:has-text('plan.txt') a")
        saved = tmp_path / "plan.txt"
        caught.value.save_as(saved)
        assert saved.read_bytes() == b"day 1: the coast"
        assert caught.value.suggested_filename == "plan.txt"
        context.close()
    assert violations == []  # the page needs nothing its own policy forbids (styles come from the server)
