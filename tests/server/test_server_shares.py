"""Share links: the owner's API (create, list, revoke) and the public pages and downloads behind /s/{token},
against a real ferry-server on both backends: passwords and their cookie, expiry, revocation, a link that follows
its file through a move and answers 410 once it is deleted, counts, a folder's zip whose bytes match the tree,
hostile input. The rate limits run on a server of their own with low limits (SQLite only: the counters are the
same SQL on both)."""

from __future__ import annotations

import io
import re
import secrets
import time
import zipfile
from collections.abc import Iterator
from http.cookies import SimpleCookie
from typing import Any

import pytest
import requests
from srvapi import Api, Server, new_user_name
from util import wait_until

from ferrysync.server.limits import SHARE_WINDOW_S

BACKENDS = ("sqlite", "pg-s3")
BIG = bytes(range(256)) * 700  # 179,200 bytes: three blocks of srvapi's 64 KiB


def share(api: Api, path: str, status: int = 201, **extra: Any) -> dict[str, Any]:
    return dict(api.ok(api.post("/v1/shares", json={"path": path, **extra}), status))


def shares(api: Api) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in api.ok(api.get("/v1/shares"))["shares"]}


def visit(url: str, path: str = "", session: requests.Session | None = None, **kw: Any) -> requests.Response:
    return (session or requests).get(url + path, timeout=30, allow_redirects=False, **kw)


def set_cookies(resp: requests.Response) -> dict[str, str]:
    """Each Set-Cookie header of the answer, by cookie name (the whole header, to check its flags)."""
    raw = resp.raw.headers.getlist("Set-Cookie") if resp.raw is not None else []
    return {h.split("=", 1)[0]: h for h in raw}


def test_a_file_link_is_created_listed_downloaded_counted_and_revoked(alice: Api, bob: Api) -> None:
    alice.put_file("docs/report.pdf", b"%PDF the report")
    made = share(alice, "docs/report.pdf")
    token, url, link = made["token"], made["url"], made["share"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert url == f"{alice.url}/s/{token}"
    assert link["path"] == link["original_path"] == "docs/report.pdf"
    assert (link["kind"], link["state"], link["has_password"], link["downloads"]) == ("file", "active", False, 0)
    assert link["created_by"] == "test-device"
    assert link["expires_at"] is None

    page = visit(url)
    assert page.status_code == 200
    assert "report.pdf" in page.text
    assert f'href="/s/{token}/download"' in page.text
    assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'none': no script at all
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    css = visit(alice.url, "/s/_static/links.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")

    for _ in range(2):
        got = visit(url, "/download")
        assert got.status_code == 200
        assert got.content == b"%PDF the report"
        assert got.headers["content-type"] == "application/octet-stream"
        assert got.headers["content-disposition"].startswith('attachment; filename="report.pdf"')
    listed = shares(alice)[link["id"]]
    assert listed["downloads"] == 2
    assert listed["last_download_at"] is not None
    assert shares(bob) == {}  # another user sees none of alice's links
    assert bob.delete(f"/v1/shares/{link['id']}").status_code == 404  # nor can revoke them
    assert visit(url, "/download").status_code == 200

    alice.ok(alice.delete(f"/v1/shares/{link['id']}"))
    gone = visit(url)
    assert gone.status_code == 410
    assert "turned off" in gone.text
    assert visit(url, "/download").status_code == 410
    assert link["id"] not in shares(alice)
    again = alice.delete(f"/v1/shares/{link['id']}")
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "not_found"


def test_a_password_is_asked_and_remembered_by_a_strict_cookie(alice: Api) -> None:
    alice.put_file("secret.txt", b"the secret")
    made = share(alice, "secret.txt", password="open sesame")
    url, token = made["url"], made["token"]
    assert made["share"]["has_password"] is True
    s = requests.Session()
    form = visit(url, session=s)
    assert form.status_code == 200
    assert 'type="password"' in form.text
    assert "the secret" not in form.text
    assert "secret.txt" not in form.text  # not even its name before the password
    csrf_header = set_cookies(form)["ferry_link_csrf"]
    for flag in ("HttpOnly", "SameSite=Strict", f"Path=/s/{token}"):
        assert flag.lower() in csrf_header.lower(), csrf_header
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None

    # Nothing is served before the password: the download sends the visitor back to the form.
    held = visit(url, "/download", session=s)
    assert held.status_code == 303
    assert held.headers["location"] == f"/s/{token}"

    wrong = s.post(url, data={"password": "guess", "csrf": csrf.group(1)}, allow_redirects=False, timeout=30)
    assert wrong.status_code == 403
    assert "not right" in wrong.text
    assert "ferry_link" not in set_cookies(wrong)
    forged = requests.post(url, data={"password": "open sesame", "csrf": "made-up"}, allow_redirects=False,
                           timeout=30)  # a cross-site post carries no (SameSite=Strict) cookie: refused
    assert forged.status_code == 403
    assert "ferry_link" not in set_cookies(forged)

    right = s.post(url, data={"password": "open sesame", "csrf": csrf.group(1)}, allow_redirects=False, timeout=30)
    assert right.status_code == 303
    grant = set_cookies(right)["ferry_link"]
    for flag in ("HttpOnly", "SameSite=Strict", f"Path=/s/{token}"):
        assert flag.lower() in grant.lower(), grant
    assert "secure" not in grant.lower()  # plain http here; over TLS the cookie is Secure:
    behind_tls = requests.post(url, data={"password": "open sesame", "csrf": csrf.group(1)}, allow_redirects=False,
                               cookies={"ferry_link_csrf": csrf.group(1)}, timeout=30,
                               headers={"X-Forwarded-Proto": "https"})  # (as a TLS proxy on loopback says)
    assert "; secure" in set_cookies(behind_tls)["ferry_link"].lower()
    assert visit(url, "/download", session=s).content == b"the secret"
    assert "secret.txt" in visit(url, session=s).text

    # The grant is this link's only: it opens no other link, and an altered one opens nothing.
    other = share(alice, "secret.txt", password="open sesame")
    value = SimpleCookie(grant)["ferry_link"].value
    assert visit(other["url"], "/download", cookies={"ferry_link": value}).status_code == 303
    tampered = value[:-1] + ("0" if value[-1] != "0" else "1")
    assert visit(url, "/download", cookies={"ferry_link": tampered}).status_code == 303
    # Revoking the link voids the grant with it.
    alice.ok(alice.delete(f"/v1/shares/{made['share']['id']}"))
    assert visit(url, "/download", session=s).status_code == 410


def test_expiry(alice: Api) -> None:
    alice.put_file("soon.txt", b"soon gone")
    made = share(alice, "soon.txt", expires_in=1)
    assert made["share"]["expires_at"] is not None
    wait_until(lambda: visit(made["url"]).status_code == 410, timeout=10, what="the link to expire")
    page = visit(made["url"])
    assert "expired" in page.text
    assert visit(made["url"], "/download").status_code == 410
    assert shares(alice)[made["share"]["id"]]["state"] == "expired"  # listed, so its owner sees why
    later = share(alice, "soon.txt", expires_at="2099-01-01T00:00:00Z")
    assert later["share"]["expires_at"].startswith("2099-01-01T00:00:00")
    assert visit(later["url"], "/download").content == b"soon gone"
    for bad in ({"expires_at": "2001-01-01T00:00:00Z"}, {"expires_at": "next tuesday"},
                {"expires_at": "2099-01-01T00:00:00"}, {"expires_in": 10, "expires_at": "2099-01-01T00:00:00Z"},
                {"expires_in": 0}, {"expires_in": "10"}, {"expires_in": 146129250079072},  # (past 100 years)
                {"expires_at": "9999-12-31T23:59:59Z"}, {"password": ""}, {"surprise": 1}):
        r = alice.post("/v1/shares", json={"path": "soon.txt", **bad})
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"]["code"] == "bad_request"


def test_a_link_follows_its_file_through_a_move_and_is_gone_once_it_is_deleted(alice: Api) -> None:
    f = alice.put_file("draft.txt", b"v1")
    made = share(alice, "draft.txt")
    (moved,) = alice.commit({"op": "move", "path": "draft.txt", "to": "final/paper.txt", "base_rev": f["rev"]})
    assert moved["ok"]
    assert visit(made["url"], "/download").content == b"v1"
    listed = shares(alice)[made["share"]["id"]]
    assert (listed["path"], listed["original_path"]) == ("final/paper.txt", "draft.txt")
    edited = alice.put_file("final/paper.txt", b"v2", base_rev=moved["entry"]["rev"])
    assert visit(made["url"], "/download").content == b"v2"  # a new version of the same file
    alice.one({"op": "delete", "path": "final/paper.txt", "base_rev": edited["rev"]})
    gone = visit(made["url"])
    assert gone.status_code == 410
    assert "deleted" in gone.text
    assert shares(alice)[made["share"]["id"]]["state"] == "gone"
    alice.put_file("final/paper.txt", b"someone else's new file")  # a new file at the old path: not the shared one
    assert visit(made["url"], "/download").status_code == 410


TREE = {
    "Team/readme.md": b"# Team\n",
    "Team/big.bin": BIG,
    "Team/sub/deeper/note \u00e9t\u00e9.txt": "\u00e9t\u00e9".encode(),
    "Team/sub/empty.txt": b"",
}


def test_a_folder_link_lists_the_tree_and_zips_it_byte_for_byte(alice: Api) -> None:
    for path, data in TREE.items():
        alice.put_file(path, data, mtime_ns=1_700_000_000_000_000_000)
    alice.one({"op": "mkdir", "path": "Team/empty-dir", "base_rev": None})
    alice.put_file("Teammate/not-shared.txt", b"outside")  # a sibling whose name starts the same
    made = share(alice, "Team")
    url = made["url"]
    assert made["share"]["kind"] == "dir"
    page = visit(url)
    assert page.status_code == 200
    for rel in ("readme.md", "big.bin", "sub/deeper/note \u00e9t\u00e9.txt", "empty-dir/"):
        assert rel in page.text
    assert "not-shared" not in page.text

    got = visit(url, "/download")
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/zip"
    assert 'filename="Team.zip"' in got.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(got.content))
    assert archive.testzip() is None
    files = {n: archive.read(n) for n in archive.namelist() if not n.endswith("/")}
    assert files == TREE
    assert {n for n in archive.namelist() if n.endswith("/")} == {"Team/", "Team/sub/", "Team/sub/deeper/",
                                                                 "Team/empty-dir/"}

    one = visit(url, "/download", params={"path": "sub/deeper/note \u00e9t\u00e9.txt"})
    assert one.status_code == 200
    assert one.content == TREE["Team/sub/deeper/note \u00e9t\u00e9.txt"]
    assert "filename*=UTF-8''note%20%C3%A9t%C3%A9.txt" in one.headers["content-disposition"]
    assert visit(url, "/download", params={"path": "big.bin"}).content == BIG
    assert shares(alice)[made["share"]["id"]]["downloads"] == 3

    # Nothing outside the shared folder is reachable through it.
    for hostile in ("../Teammate/not-shared.txt", "/Teammate/not-shared.txt", "sub/../../Teammate/not-shared.txt",
                    "sub\\..\\x", "a\x00b", ""):
        r = visit(url, "/download", params={"path": hostile})
        assert r.status_code == 400, hostile
        assert b"outside" not in r.content
    assert visit(url, "/download", params={"path": "nope.txt"}).status_code == 404
    assert visit(url, "/download", params={"path": "Teammate/not-shared.txt"}).status_code == 404


def test_hostile_input(alice: Api, bob: Api) -> None:
    alice.put_file("mine/<script>alert(1)</script>.txt", b"x")
    bob.put_file("bobs/secret.txt", b"bob's")
    for path in ("../bobs/secret.txt", "/bobs/secret.txt", "mine/../../x", "", "a//b"):
        r = alice.post("/v1/shares", json={"path": path})
        assert r.status_code == 400, path
        assert r.json()["error"]["code"] == "bad_path"
    r = alice.post("/v1/shares", json={"path": "bobs/secret.txt"})  # bob's path is not in alice's tree
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    assert requests.post(f"{alice.url}/v1/shares", json={"path": "mine"}, timeout=10).status_code == 401

    made = share(alice, "mine")
    page = visit(made["url"])
    assert "<script>alert(1)</script>" not in page.text  # autoescaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.txt" in page.text

    token = made["token"]
    for wrong in (token[:-1], token + "A", secrets.token_urlsafe(32), "x" * 43, "..", "%00", "a" * 5000):
        r = visit(alice.url, f"/s/{wrong}")
        # requests resolves /s/.. to /, which is the web app's redirect to its sign-in: never a link's page
        assert r.status_code == (303 if wrong == ".." else 404), wrong[:50]
        assert wrong == ".." or "does not exist" in r.text
        assert visit(alice.url, f"/s/{wrong}/download").status_code == 404
    assert visit(alice.url, f"/s/{token}/download", params={"path": "x.txt"}).status_code == 404
    assert bob.delete("/v1/shares/" + "z" * 65).status_code == 400


def test_the_owner_api_is_in_the_openapi_document_and_the_public_pages_are_not(alice: Api) -> None:
    doc = requests.get(f"{alice.url}/openapi.json", timeout=10).json()
    assert {"post", "get"} <= set(doc["paths"]["/v1/shares"])
    assert "delete" in doc["paths"]["/v1/shares/{share_id}"]
    assert not [p for p in doc["paths"] if p.startswith("/s/")]


# -- rate limits: a server of its own with low limits -------------------------------------------------------------

@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    server = Server(tmp_path_factory.mktemp("tight-shares"),
                    extra_args=["--share-link-rate", "3", "--share-address-rate", "4"])
    server.start()
    try:
        name = new_user_name()
        server.add_user(name, "pw")
        yield Api(server.url, server.login(name, "pw"), name)
    finally:
        server.stop()


def early_in_a_window() -> None:
    """Wait until the throttle's one-minute window has time left for a whole test (its windows are aligned to the
    clock, which the server shares with this test), so the counts never straddle two windows."""
    wait_until(lambda: time.time() % SHARE_WINDOW_S < SHARE_WINDOW_S - 15, timeout=20, what="a fresh window")


def test_downloads_are_rate_limited_per_link_and_per_address(tight: Api) -> None:
    early_in_a_window()
    tight.put_file("popular.txt", b"everyone wants it")
    first, second = share(tight, "popular.txt"), share(tight, "popular.txt")
    statuses = [visit(first["url"], "/download").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = visit(first["url"], "/download")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "try again" in limited.text
    assert shares(tight)[first["share"]["id"]]["downloads"] == 3  # refused downloads are not counted
    # Another link is not held back by the first one's limit...
    assert visit(second["url"], "/download").status_code == 200
    # ...but one client address is, over all links (the address comes from X-Forwarded-For, which the server
    # trusts from its loopback proxy).
    proxy = {"X-Forwarded-For": "203.0.113.7"}
    third = share(tight, "popular.txt")
    got = [visit(third["url"], "/download", headers=proxy).status_code for _ in range(3)]
    got += [visit(second["url"], "/download", headers=proxy).status_code for _ in range(2)]
    assert got == [200, 200, 200, 200, 429]
    fourth = share(tight, "popular.txt")  # another address is not held back by that one
    assert visit(fourth["url"], "/download", headers={"X-Forwarded-For": "198.51.100.9"}).status_code == 200


def test_password_attempts_are_rate_limited(tight: Api) -> None:
    early_in_a_window()
    tight.put_file("locked.txt", b"locked")
    url = share(tight, "locked.txt", password="right one")["url"]
    s = requests.Session()
    csrf = re.search(r'name="csrf" value="([^"]+)"', visit(url, session=s).text)
    assert csrf is not None
    codes = [s.post(url, data={"password": f"guess {i}", "csrf": csrf.group(1)}, allow_redirects=False,
                    timeout=30).status_code for i in range(11)]
    assert codes == [403] * 10 + [429]
    late = s.post(url, data={"password": "right one", "csrf": csrf.group(1)}, allow_redirects=False, timeout=30)
    assert late.status_code == 429  # even the right password waits for the window: no oracle while locked
    assert "ferry_link" not in set_cookies(late)


