"""The server's web app (issue 16) in a real browser (Debian's chromium through Playwright) against a real
ferry-server: every page and action, the cookie's flags, CSRF, signed-out refusals and another user's paths.

One server for the module; each test signs in in a fresh browser context. `FERRY_WEBUI_SHOTS=1` writes the pages'
pictures to docs/images/web-*.png for docs/user-guide.md.
"""

from __future__ import annotations

import io
import os
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from util import ServerFactory, ServerProcess, bin_path
from webui_browser import IMAGES, TIMEOUT_MS, browser, need_browser

PAGES = ["/web/files/", "/web/files/Docs", "/web/trash", "/web/devices", "/web/account", "/web/admin",
         "/web/versions/Docs/report.txt", "/web/shares", "/web/folders"]


@dataclass
class Site:
    server: ServerProcess
    browser: Any
    tmp: Path

    def page(self, user: str | None = None) -> Any:
        context = self.browser.new_context(accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("dialog", lambda dialog: dialog.accept())
        if user is not None:
            page.goto(f"{self.server.url}/web/")
            page.get_by_label("User name").fill(user)
            page.get_by_label("Password").fill(f"{user}-pw")
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/web/files/")
        return page


def shot(page: Any, name: str) -> None:
    if os.environ.get("FERRY_WEBUI_SHOTS") == "1":
        IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(IMAGES / f"web-{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    need_browser()
    factory = ServerFactory(tmp_path_factory)
    server = factory.make()
    try:
        for name in ("alice", "bob"):
            server.add_user(name, f"{name}-pw")
        subprocess.run([bin_path("ferry-server"), "user", "admin", "alice", "on", "--data", str(server.data)],
                       check=True, capture_output=True)
        with browser() as b:
            yield Site(server, b, tmp_path_factory.mktemp("web-browser"))
    finally:
        for s in factory.started:
            s.stop()


def upload(page: Any, tmp: Path, name: str, data: bytes) -> None:
    source = tmp / name
    source.write_bytes(data)
    with page.expect_navigation():  # the page reloads once the upload is answered
        page.set_input_files("#upload-files", str(source))
    page.get_by_text("Uploaded 1 file(s).").wait_for()


def new_folder(page: Any, name: str) -> None:
    """Create a folder at the top and open it; its page has loaded (with its upload script) when this returns."""
    page.get_by_label("New folder").fill(name)
    page.get_by_role("button", name="Create").click()
    page.get_by_role("link", name=f"{name}/").click()
    page.wait_for_url(f"**/web/files/{name}")  # an upload chosen on the page before would go to the old folder


def row(page: Any, name: str) -> Any:
    return page.locator("tr", has=page.get_by_role("link", name=name, exact=True))


def test_signed_out_every_page_leads_to_sign_in(site: Site) -> None:
    page = site.page()
    for path in PAGES:
        page.goto(site.server.url + path)
        assert "/web/login" in page.url, path
    page.get_by_role("button", name="Sign in").wait_for()
    shot(page, "signin")
    r = requests.get(f"{site.server.url}/web/download/Docs/report.txt", timeout=10, allow_redirects=False)
    assert r.status_code == 401


def test_files_upload_download_rename_move_delete_restore_versions(site: Site) -> None:
    page = site.page("alice")
    new_folder(page, "Docs")
    upload(page, site.tmp, "report.txt", b"first draft\n")
    upload(page, site.tmp, "report.txt", b"second draft, longer\n")
    big = os.urandom(3 * 1024 * 1024 + 5)
    upload(page, site.tmp, "photo.bin", big)
    shot(page, "files")
    with page.expect_download() as got:
        row(page, "photo.bin").get_by_role("link", name="photo.bin").click()
    assert Path(got.value.path()).read_bytes() == big
    with page.expect_download() as got:
        page.get_by_role("link", name="Download this folder (zip)").click()
    with zipfile.ZipFile(io.BytesIO(Path(got.value.path()).read_bytes())) as zf:
        assert zf.read("photo.bin") == big
        assert zf.read("report.txt") == b"second draft, longer\n"

    row(page, "report.txt").get_by_role("link", name="Versions").click()
    page.get_by_role("button", name="Restore").click()
    page.get_by_text("Restored report.txt").wait_for()
    shot(page, "versions")
    page.get_by_role("link", name="← Back to the folder").click()
    with page.expect_download() as got:
        row(page, "report.txt").get_by_role("link", name="report.txt").click()
    assert Path(got.value.path()).read_bytes() == b"first draft\n"

    row(page, "photo.bin").get_by_label("New name of photo.bin").fill("holiday.bin")
    row(page, "photo.bin").get_by_role("button", name="Rename").click()
    page.get_by_text("Renamed to holiday.bin.").wait_for()
    row(page, "holiday.bin").get_by_label("Folder to move holiday.bin to").fill("Pictures")
    row(page, "holiday.bin").get_by_role("button", name="Move").click()
    page.get_by_text("Moved to /Pictures.").wait_for()
    row(page, "report.txt").get_by_role("button", name="Delete").click()
    page.get_by_text("Moved report.txt to the deleted files.").wait_for()
    assert page.get_by_role("link", name="report.txt", exact=True).count() == 0

    page.get_by_role("link", name="Deleted files").click()
    shot(page, "trash")
    page.locator("tr", has_text="Docs/report.txt").get_by_role("button", name="Restore").click()
    page.get_by_text("Restored report.txt.").wait_for()
    page.goto(f"{site.server.url}/web/files/Pictures")
    assert row(page, "holiday.bin").count() == 1


def test_cookie_flags_csrf_and_another_users_paths(site: Site) -> None:
    bob = site.page("bob")
    upload(bob, site.tmp, "diary.txt", b"bob's diary")
    page = site.page("alice")
    cookie = next(c for c in page.context.cookies() if c["name"] == "ferry_web")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/web"
    for path in ("/web/download/diary.txt", "/web/versions/diary.txt", "/web/download/../diary.txt"):
        response = page.goto(site.server.url + path)
        assert response.status in (400, 404), path
        assert "bob's diary" not in page.content()
    # A form posted without the page's CSRF token is refused, though the browser sends the session cookie.
    status = page.evaluate("""async () => (await fetch('/web/mkdir', {method: 'POST', headers:
        {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'folder=&name=Forged'})).status""")
    assert status == 403
    page.goto(f"{site.server.url}/web/files/")
    assert page.get_by_role("link", name="Forged/").count() == 0


def test_devices_account_and_admin(site: Site) -> None:
    r = requests.post(f"{site.server.url}/v1/login", json={"user": "alice", "password": "alice-pw",
                                                           "device_name": "laptop"}, timeout=10)
    token = r.json()["token"]
    page = site.page("alice")
    page.get_by_role("link", name="Devices").click()
    shot(page, "devices")
    page.locator("tr", has_text="laptop").get_by_role("button", name="Sign out").click()
    page.get_by_text("Device signed out").wait_for()
    assert requests.get(f"{site.server.url}/v1/account", headers={"Authorization": f"Bearer {token}"},
                        timeout=10).status_code == 401

    page.get_by_role("link", name="Admin").click()
    page.get_by_label("User name").fill("carol")
    page.get_by_label("Password", exact=True).fill("carol-pw")
    page.get_by_label("Password again").fill("carol-pw")
    page.get_by_label("Quota", exact=True).fill("10KiB")
    page.get_by_role("button", name="Add user").click()
    page.get_by_text("Added carol.").wait_for()
    shot(page, "admin")

    carol = site.page("carol")
    upload(carol, site.tmp, "fits.txt", b"x" * 6000)
    source = site.tmp / "toobig.bin"
    source.write_bytes(b"y" * 6000)
    with carol.expect_navigation():
        carol.set_input_files("#upload-files", str(source))
    carol.get_by_text("Your storage is full").wait_for()
    carol.get_by_role("link", name="Account").click()
    assert "of 10.0 KiB" in carol.locator("#usage").inner_text()
    carol.get_by_label("Current password").fill("carol-pw")
    carol.get_by_label("New password", exact=True).fill("carol-new")
    carol.get_by_label("New password again").fill("carol-new")
    carol.get_by_role("button", name="Change password").click()
    carol.get_by_text("Password changed").wait_for()
    shot(carol, "account")
    assert requests.post(f"{site.server.url}/v1/login", json={"user": "carol", "password": "carol-new",
                                                              "device_name": "d"}, timeout=10).ok


def test_share_link_with_password_and_expiry_then_revoked(site: Site) -> None:
    """A link made on the Shares page works for a signed-out visitor only with its password, downloads the folder's
    bytes, and stops opening once revoked."""
    page = site.page("alice")
    new_folder(page, "Public")
    upload(page, site.tmp, "flyer.txt", b"come to the party\n")
    page.get_by_role("link", name="Shares").click()
    page.get_by_label("Path").fill("Public")
    page.get_by_label("Expires after (days, blank: never)").fill("7")
    page.get_by_label("Password (optional)").fill("open-sesame")
    page.get_by_role("button", name="Make link").click()
    url = page.get_by_label("The new link").input_value()
    listed = page.locator("tr[data-share]", has_text="Public")
    assert listed.count() == 1
    assert "yes" in listed.inner_text()
    shot(page, "shares")

    visitor = site.page()
    visitor.goto(url)
    visitor.get_by_label("Password").fill("wrong")
    visitor.get_by_role("button", name="Open").click()
    visitor.get_by_role("alert").wait_for()
    assert visitor.get_by_role("link", name="Download all (zip)").count() == 0
    visitor.get_by_label("Password").fill("open-sesame")
    visitor.get_by_role("button", name="Open").click()
    with visitor.expect_download() as got:
        visitor.get_by_role("link", name="Download all (zip)").click()
    with zipfile.ZipFile(io.BytesIO(Path(got.value.path()).read_bytes())) as zf:
        assert zf.namelist() == ["Public/", "Public/flyer.txt"]
        assert zf.read("Public/flyer.txt") == b"come to the party\n"

    page.goto(f"{site.server.url}/web/shares")
    page.locator("tr[data-share]", has_text="Public").get_by_role("button", name="Revoke").click()
    page.get_by_text("Link revoked").wait_for()
    gone = site.page()
    response = gone.goto(url)
    assert response.status in (404, 410)
    gone.get_by_text("This link was turned off by the person who shared it.").wait_for()


def test_share_a_folder_with_a_user_change_role_and_revoke(site: Site) -> None:
    """alice shares a folder with bob on the Shared folders page: he sees it and uploads into it, is refused once
    read-only, and loses it (and its URL) when revoked."""
    alice = site.page("alice")
    new_folder(alice, "Team")
    upload(alice, site.tmp, "plan.txt", b"the plan")
    alice.goto(f"{site.server.url}/web/files/")
    row(alice, "Team/").get_by_role("link", name="Share with a user").click()
    assert alice.get_by_label("Folder").input_value() == "Team"
    alice.get_by_label("User name").fill("bob")
    alice.get_by_label("Access").select_option("rw")
    alice.get_by_role("button", name="Share folder").click()
    alice.get_by_text("Team is shared with bob (read-write)").wait_for()

    bob = site.page("bob")
    row(bob, "Team/").get_by_role("link", name="Team/").click()
    bob.wait_for_url("**/web/files/Team")
    assert row(bob, "plan.txt").count() == 1
    upload(bob, site.tmp, "ideas.txt", b"bob's ideas")
    bob.get_by_role("link", name="Shared folders").click()
    assert "alice" in bob.locator("#shared-with-me").inner_text()

    alice.locator('tr[data-member="bob"]').get_by_label("Access of bob to Team").select_option("ro")
    alice.locator('tr[data-member="bob"]').get_by_role("button", name="Change").click()
    alice.get_by_text("bob can now use Team read-only").wait_for()
    shot(alice, "shared-folders")
    bob.goto(f"{site.server.url}/web/files/Team")
    source = site.tmp / "late.txt"
    source.write_bytes(b"too late")
    with bob.expect_navigation():
        bob.set_input_files("#upload-files", str(source))
    bob.get_by_text("shared with you read-only").wait_for()
    assert row(bob, "late.txt").count() == 0

    alice.locator('tr[data-member="bob"]').get_by_role("button", name="Revoke").click()
    alice.get_by_text("Team is no longer shared with bob").wait_for()
    bob.goto(f"{site.server.url}/web/files/")
    assert row(bob, "Team/").count() == 0
    response = bob.goto(f"{site.server.url}/web/files/Team")
    assert response.status == 404
    assert "plan.txt" not in bob.content()
