"""The web app over HTTP, in process (TestClient): sessions and their cookie, CSRF and origin rules, every page
refused when signed out, another user's paths unreachable, file actions through the store's rules, quotas."""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from webclient import ORIGIN, add_user, app_client, csrf_of, post, sign_in

from ferrysync.server.context import AppContext
from ferrysync.server.passwords import token_hash
from ferrysync.server.store.schema import web_sessions
from ferrysync.server.store.sql import SqlMetaStore

PAGES = ["/web/", "/web/files/", "/web/files/Docs", "/web/trash", "/web/devices", "/web/account", "/web/admin",
         "/web/versions/a.txt", "/web/shares"]
ENDPOINTS = ["/web/download/a.txt", "/web/zip/", "/web/zip/Docs"]
POSTS = ["/web/upload?path=x", "/web/mkdir", "/web/rename", "/web/move", "/web/delete", "/web/restore",
         "/web/undelete", "/web/password", "/web/devices/revoke", "/web/logout", "/web/admin/add",
         "/web/admin/quota", "/web/admin/password", "/web/admin/flag", "/web/admin/remove",
         "/web/shares/new", "/web/shares/revoke"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AppContext, TestClient]]:
    with app_client(tmp_path_factory.mktemp("web")) as (ctx, client):
        add_user(ctx, "alice", "alice-pw", admin=True)
        add_user(ctx, "bob", "bob-pw")
        yield ctx, client


@pytest.fixture
def client(server: tuple[AppContext, TestClient]) -> TestClient:
    server[1].cookies.clear()
    return server[1]


@pytest.fixture
def ctx(server: tuple[AppContext, TestClient]) -> AppContext:
    return server[0]


def upload(client: TestClient, csrf: str, path: str, data: bytes) -> dict[str, object]:
    r = client.post(f"/web/upload?path={path}", content=data, headers={"X-CSRF-Token": csrf, "Origin": ORIGIN})
    body: dict[str, object] = r.json()
    body["status"] = r.status_code
    return body


def test_signed_out_pages_redirect_to_sign_in_and_the_rest_answers_401(client: TestClient) -> None:
    for page in PAGES:
        r = client.get(page)
        assert r.status_code == 303, page
        assert r.headers["location"].startswith("/web/login?next=") or page == "/web/", page
    for url in ENDPOINTS:
        assert client.get(url).status_code == 401, url
    for url in POSTS:
        assert client.post(url, data={"csrf": "x"}, headers={"Origin": ORIGIN}).status_code == 401, url
    assert client.get("/").headers["location"] == "/web/"


def test_sign_in_sets_a_strict_http_only_cookie_and_keeps_only_its_hash(client: TestClient, ctx: AppContext) -> None:
    form = client.get("/web/login")
    assert "HttpOnly" in form.headers["set-cookie"]
    assert "SameSite=Strict" in form.headers["set-cookie"]
    assert "default-src 'self'" in form.headers["content-security-policy"]
    wrong = client.post("/web/login", data={"user": "alice", "password": "nope", "csrf": csrf_of(form.text)},
                        headers={"Origin": ORIGIN})
    assert wrong.status_code == 401
    assert "Wrong user name or password" in wrong.text
    no_token = client.post("/web/login", data={"user": "alice", "password": "alice-pw"}, headers={"Origin": ORIGIN})
    assert no_token.status_code == 403
    r = client.post("/web/login", data={"user": "alice", "password": "alice-pw", "csrf": csrf_of(form.text),
                                        "next": "/web/trash"}, headers={"Origin": ORIGIN})
    assert r.status_code == 303
    assert r.headers["location"] == "/web/trash"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("ferry_web="))
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/web" in cookie
    assert "Secure" not in cookie  # plain HTTP here; see the HTTPS test below
    token = cookie.split(";")[0].split("=", 1)[1]
    assert isinstance(ctx.meta, SqlMetaStore)
    with ctx.meta.engine.connect() as conn:
        stored = conn.execute(select(web_sessions.c.token_hash)).scalars().all()
    assert token_hash(token) in stored
    assert token not in stored
    assert client.get("/web/files/").status_code == 200


def test_a_session_is_secure_over_https(server: tuple[AppContext, TestClient]) -> None:
    _ctx, plain = server
    with TestClient(plain.app, base_url="https://testserver", follow_redirects=False) as client:
        form = client.get("/web/login")
        r = client.post("/web/login", data={"user": "bob", "password": "bob-pw", "csrf": csrf_of(form.text)},
                        headers={"Origin": "https://testserver"})
        assert r.status_code == 303
        assert "; Secure" in next(c for c in r.headers.get_list("set-cookie") if c.startswith("ferry_web="))


def test_login_is_refused_from_another_site(client: TestClient) -> None:
    form = client.get("/web/login")
    r = client.post("/web/login", data={"user": "alice", "password": "alice-pw", "csrf": csrf_of(form.text)},
                    headers={"Origin": "https://evil.example"})
    assert r.status_code == 403


def test_posts_need_the_csrf_token_and_our_origin(client: TestClient, ctx: AppContext) -> None:
    csrf = sign_in(client, "alice", "alice-pw")
    assert client.post("/web/mkdir", data={"folder": "", "name": "NoToken"}, headers={"Origin": ORIGIN}
                       ).status_code == 403
    assert client.post("/web/mkdir", data={"csrf": "0" * 64, "folder": "", "name": "Wrong"},
                       headers={"Origin": ORIGIN}).status_code == 403
    assert client.post("/web/mkdir", data={"csrf": csrf, "folder": "", "name": "Evil"},
                       headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.post("/web/mkdir", data={"csrf": csrf, "folder": "", "name": "Site"},
                       headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    uid = _uid(ctx, "alice")
    assert all(ctx.meta.entry(uid, n) is None for n in ("NoToken", "Wrong", "Evil", "Site"))
    r = post(client, "/web/mkdir", csrf, folder="", name="Made")
    assert r.status_code == 303
    assert ctx.meta.entry(uid, "Made") is not None
    assert client.post("/web/upload?path=x.bin", content=b"x", headers={"Origin": ORIGIN}).status_code == 403


def _uid(ctx: AppContext, name: str) -> int:
    found = ctx.meta.get_user(name)
    assert found is not None
    return found[0].id


def test_upload_browse_download_zip_rename_move_delete_restore(client: TestClient, ctx: AppContext) -> None:
    csrf = sign_in(client, "alice", "alice-pw")
    big = os.urandom(6 * 1024 * 1024 + 123)
    assert upload(client, csrf, "Docs/big.bin", big)["ok"] is True
    assert upload(client, csrf, "Docs/<b>note.txt", b"v1")["ok"] is True
    assert upload(client, csrf, "Docs/<b>note.txt", b"version two")["ok"] is True  # a new version
    page = client.get("/web/files/Docs").text
    assert "&lt;b&gt;note.txt" in page
    assert "<b>note" not in page
    assert client.get("/web/download/Docs/big.bin").content == big
    with zipfile.ZipFile(io.BytesIO(client.get("/web/zip/Docs").content)) as zf:
        assert zf.read("big.bin") == big
        assert zf.read("<b>note.txt") == b"version two"
    uid = _uid(ctx, "alice")
    revs = ctx.meta.revisions(uid, "Docs/<b>note.txt")
    assert client.get(f"/web/download/Docs/%3Cb%3Enote.txt?rev={revs[-1].rev}").content == b"v1"
    assert "Restore" in client.get("/web/versions/Docs/%3Cb%3Enote.txt").text
    post(client, "/web/restore", csrf, path="Docs/<b>note.txt", rev=str(revs[-1].rev))
    assert client.get("/web/download/Docs/%3Cb%3Enote.txt").content == b"v1"
    post(client, "/web/rename", csrf, path="Docs/big.bin", name="large.bin")
    post(client, "/web/mkdir", csrf, folder="", name="Archive")
    post(client, "/web/move", csrf, path="Docs", to="Archive")
    assert ctx.meta.entry(uid, "Archive/Docs/large.bin") is not None
    assert ctx.meta.entry(uid, "Docs") is None
    post(client, "/web/delete", csrf, path="Archive/Docs")
    assert ctx.meta.entry(uid, "Archive/Docs/large.bin") is None
    assert "Archive/Docs/large.bin" in client.get("/web/trash").text
    post(client, "/web/undelete", csrf, path="Archive/Docs")
    assert client.get("/web/download/Archive/Docs/large.bin").content == big


def test_web_uploads_are_cut_like_the_daemon_so_blocks_dedup(client: TestClient, ctx: AppContext) -> None:
    from ferrysync.server.web.chunking import cut

    csrf = sign_in(client, "alice", "alice-pw")
    data = os.urandom(5 * 1024 * 1024)
    upload(client, csrf, "dedup/one.bin", data)
    uid = _uid(ctx, "alice")
    entry = ctx.meta.entry(uid, "dedup/one.bin")
    assert entry is not None
    assert len(entry.blocks) == len(cut(data)) > 1
    assert ctx.meta.missing_blocks(uid, list(entry.blocks)) == []


def test_another_users_paths_are_unreachable(client: TestClient, ctx: AppContext) -> None:
    csrf = sign_in(client, "bob", "bob-pw")
    upload(client, csrf, "secret/plan.txt", b"bob's plan")
    csrf = sign_in(client, "alice", "alice-pw")
    for url in ["/web/download/secret/plan.txt", "/web/zip/secret", "/web/versions/secret/plan.txt",
                "/web/files/secret", "/web/download/../bob/secret/plan.txt", "/web/files/..%2Fsecret"]:
        r = client.get(url)
        assert r.status_code in (400, 404), url
        assert b"bob's plan" not in r.content
    post(client, "/web/delete", csrf, path="secret/plan.txt")
    post(client, "/web/move", csrf, path="secret", to="Mine")
    bob = _uid(ctx, "bob")
    assert ctx.meta.entry(bob, "secret/plan.txt") is not None
    assert "plan.txt" not in client.get("/web/trash").text


def test_quota_refuses_web_and_api_uploads_with_a_typed_error(client: TestClient, ctx: AppContext) -> None:
    add_user(ctx, "carol", "carol-pw")
    ctx.meta.set_quota("carol", 1000)
    csrf = sign_in(client, "carol", "carol-pw")
    assert upload(client, csrf, "small.txt", b"x" * 600)["ok"] is True
    over = upload(client, csrf, "more.txt", b"y" * 600)
    assert over["status"] == 507
    assert "quota" in str(over["error"])
    assert upload(client, csrf, "small.txt", b"z" * 900)["ok"] is True  # replacing: only the growth counts
    assert "900 bytes in 1 file, of 1000 bytes" in client.get("/web/account").text
    token = client.post("/v1/login", json={"user": "carol", "password": "carol-pw", "device_name": "d"}).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    from ferrysync.server.hashing import block_hash

    data = b"w" * 300
    r = client.put(f"/v1/blocks/{block_hash(data)}", content=data, headers=auth)
    assert r.status_code == 507
    assert r.json()["error"]["code"] == "quota_exceeded"
    ctx.meta.set_quota("carol", 2000)
    assert client.put(f"/v1/blocks/{block_hash(data)}", content=data, headers=auth).status_code == 201
    ctx.meta.set_quota("carol", 1000)
    commit = client.post("/v1/commit", json={"ops": [{"op": "put", "path": "api.txt", "blocks": [block_hash(data)],
                                                      "size": 300, "mtime_ns": 0, "base_rev": None}]}, headers=auth)
    assert commit.json()["results"][0]["code"] == "quota_exceeded"
    account = client.get("/v1/account", headers=auth).json()
    assert account["quota_bytes"] == 1000
    assert account["bytes"] == 900


def test_password_change_signs_other_browsers_out(server: tuple[AppContext, TestClient]) -> None:
    ctx, client = server
    add_user(ctx, "dave", "dave-pw")
    with TestClient(client.app, follow_redirects=False) as other:
        sign_in(other, "dave", "dave-pw")
        csrf = sign_in(client, "dave", "dave-pw")
        wrong = post(client, "/web/password", csrf, current="nope", new="n2", again="n2")
        assert "current password is wrong" in client.get(wrong.headers["location"]).text
        post(client, "/web/password", csrf, current="dave-pw", new="n2", again="n2")
        assert client.get("/web/account").status_code == 200
        assert other.get("/web/account").status_code == 303
    sign_in(client, "dave", "n2")


def test_devices_list_and_revoke(client: TestClient, ctx: AppContext) -> None:
    add_user(ctx, "erin", "erin-pw")
    token = client.post("/v1/login", json={"user": "erin", "password": "erin-pw", "device_name": "laptop"}
                        ).json()["token"]
    csrf = sign_in(client, "erin", "erin-pw")
    page = client.get("/web/devices").text
    assert "laptop" in page
    device = ctx.meta.list_devices(_uid(ctx, "erin"))[0]
    post(client, "/web/devices/revoke", csrf, device_id=device.id)
    assert client.get("/v1/account", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_admin_page_is_for_admins_and_manages_users(client: TestClient, ctx: AppContext) -> None:
    sign_in(client, "bob", "bob-pw")
    assert client.get("/web/admin").status_code == 403
    csrf = sign_in(client, "alice", "alice-pw")
    assert "bob" in client.get("/web/admin").text
    post(client, "/web/admin/add", csrf, name="frank", password="f-pw", again="f-pw", quota="1MiB")
    found = ctx.meta.get_user("frank")
    assert found is not None
    assert found[0].quota_bytes == 1024 * 1024
    post(client, "/web/admin/quota", csrf, name="frank", quota="none")
    post(client, "/web/admin/flag", csrf, name="frank", admin="on")
    found = ctx.meta.get_user("frank")
    assert found is not None
    assert found[0].quota_bytes is None
    assert found[0].is_admin
    post(client, "/web/admin/remove", csrf, name="frank", confirm="frank")
    assert ctx.meta.get_user("frank") is None


def test_signing_out_ends_the_session(client: TestClient, tmp_path: Path) -> None:
    csrf = sign_in(client, "alice", "alice-pw")
    cookie = client.cookies.get("ferry_web")
    post(client, "/web/logout", csrf)
    client.cookies.set("ferry_web", cookie or "", path="/web")
    assert client.get("/web/files/").status_code == 303


def test_an_expired_session_is_refused_and_pruned(client: TestClient, ctx: AppContext) -> None:
    sign_in(client, "bob", "bob-pw")
    token = client.cookies.get("ferry_web")
    assert token is not None
    assert isinstance(ctx.meta, SqlMetaStore)
    with ctx.meta.engine.begin() as conn:
        conn.execute(update(web_sessions).where(web_sessions.c.token_hash == token_hash(token)).values(expires_at=1))
    assert client.get("/web/files/").status_code == 303
    assert ctx.meta.prune_sessions() >= 1
    with ctx.meta.engine.connect() as conn:
        assert conn.execute(select(web_sessions).where(web_sessions.c.token_hash == token_hash(token))).first() is None


def test_a_folder_lists_only_its_own_children_whatever_its_name(client: TestClient, ctx: AppContext) -> None:
    add_user(ctx, "gina", "gina-pw")
    csrf = sign_in(client, "gina", "gina-pw")
    for path in ("100%_done/mine.txt", "100%_done/deeper/no.txt", "100x_done/other.txt", "100%_DONE/case.txt",
                 "top.txt"):
        assert upload(client, csrf, path, b"x")["ok"] is True
    uid = _uid(ctx, "gina")
    assert sorted(e.path for e in ctx.meta.children(uid, "100%_done")) == ["100%_done/deeper", "100%_done/mine.txt"]
    assert sorted(e.path for e in ctx.meta.children(uid, "")) == ["100%_DONE", "100%_done", "100x_done", "top.txt"]
    page = client.get("/web/files/100%25_done").text
    assert "mine.txt" in page
    assert "other.txt" not in page
    assert "case.txt" not in page


def test_shares_page_makes_lists_and_revokes_a_link(client: TestClient, ctx: AppContext) -> None:
    csrf = sign_in(client, "alice", "alice-pw")
    assert upload(client, csrf, "Shared/<i>plan.txt", b"the plan")["ok"] is True
    made = post(client, "/web/shares/new", csrf, path="Shared/<i>plan.txt", days="7", password="")
    assert made.status_code == 201
    assert "&lt;i&gt;plan.txt" in made.text
    assert "<i>plan" not in made.text
    url = re.search(r'id="created-url" readonly value="([^"]+)"', made.text)
    assert url is not None
    assert "/s/" in url.group(1)
    token = url.group(1).rsplit("/s/", 1)[1]
    assert client.get(f"/s/{token}/download").content == b"the plan"  # the link works for anyone
    assert token not in client.get("/web/shares").text  # the URL is shown once: only its hash is kept
    uid = _uid(ctx, "alice")
    [link] = [s for s in ctx.meta.list_shares(uid) if s.path == "Shared/<i>plan.txt"]
    assert link.downloads == 1
    assert link.expires_at is not None
    assert post(client, "/web/shares/new", csrf, path="Shared/none.txt").status_code == 303  # back with an error
    assert post(client, "/web/shares/new", csrf, path="../etc", days="1").status_code == 303
    assert post(client, "/web/shares/new", csrf, path="Shared", days="nope").status_code == 303
    assert len([s for s in ctx.meta.list_shares(uid) if s.path != "Shared/<i>plan.txt"]) == 0
    # a forged revoke (no CSRF token) is refused
    assert client.post("/web/shares/revoke", data={"share_id": link.id}, headers={"Origin": ORIGIN}).status_code == 403
    post(client, "/web/shares/revoke", csrf, share_id=link.id)
    assert client.get(f"/s/{token}").status_code == 410


def test_an_encrypted_folder_is_said_and_no_plain_name_is_written_into_it(client: TestClient, ctx: AppContext) -> None:
    csrf = sign_in(client, "alice", "alice-pw")
    assert upload(client, csrf, "Vault/.ferry-e2ee-keys", b'{"v": 1}')["ok"] is True  # as a device makes it
    assert upload(client, csrf, "Plain/a.txt", b"plain")["ok"] is True
    assert 'id="encrypted"' in client.get("/web/files/Vault").text
    assert 'id="encrypted"' not in client.get("/web/files/Plain").text
    refused = upload(client, csrf, "Vault/new.txt", b"would be a plain name")
    assert refused["ok"] is False
    assert "encrypted" in str(refused["error"])
    post(client, "/web/mkdir", csrf, folder="Vault", name="sub")
    post(client, "/web/move", csrf, path="Plain/a.txt", to="Vault/a.txt")
    post(client, "/web/rename", csrf, path="Vault/.ferry-e2ee-keys", name="x")
    uid = _uid(ctx, "alice")
    assert ctx.meta.entry(uid, "Vault/new.txt") is None
    assert ctx.meta.entry(uid, "Vault/sub") is None
    assert ctx.meta.entry(uid, "Vault/a.txt") is None
    assert ctx.meta.entry(uid, "Vault/.ferry-e2ee-keys") is not None
    post(client, "/web/delete", csrf, path="Vault/.ferry-e2ee-keys")  # refused: the folder's keys
    assert ctx.meta.entry(uid, "Vault/.ferry-e2ee-keys") is not None
    post(client, "/web/rename", csrf, path="Vault", name="Safe")  # the root's own name is plain: it may move
    assert ctx.meta.entry(uid, "Safe/.ferry-e2ee-keys") is not None


def test_a_folder_shared_with_a_user_is_browsed_at_their_mount(client: TestClient, ctx: AppContext) -> None:
    add_user(ctx, "mira", "mira-pw")
    csrf = sign_in(client, "alice", "alice-pw")
    assert upload(client, csrf, "Crew/notes/plan.txt", b"the crew's plan")["ok"] is True
    ctx.meta.share_folder(_uid(ctx, "alice"), "web", "Crew", "mira", "ro")
    csrf = sign_in(client, "mira", "mira-pw")
    assert "Crew" in client.get("/web/files/").text
    assert "plan.txt" in client.get("/web/files/Crew/notes").text
    assert client.get("/web/download/Crew/notes/plan.txt").content == b"the crew's plan"
    with zipfile.ZipFile(io.BytesIO(client.get("/web/zip/Crew").content)) as zf:
        assert zf.read("notes/plan.txt") == b"the crew's plan"
    refused = upload(client, csrf, "Crew/notes/mine.txt", b"mira's")
    assert refused["status"] == 403  # read-only: the owner's folder is left as it was
    assert ctx.meta.entry(_uid(ctx, "alice"), "Crew/notes/mine.txt") is None
    assert ctx.meta.usage(_uid(ctx, "mira")).bytes == 0


FOLDER_POSTS = ["/web/folders/share", "/web/folders/role", "/web/folders/unshare", "/web/folders/leave"]


def test_shared_folder_pages_need_a_session_and_the_csrf_token(client: TestClient) -> None:
    """The new forms are guarded like every other: signed out they answer 401, signed in without the token 403."""
    assert client.get("/web/folders").status_code == 303
    for url in FOLDER_POSTS:
        assert client.post(url, data={"csrf": "x"}, headers={"Origin": ORIGIN}).status_code == 401, url
    sign_in(client, "alice", "alice-pw")
    for url in FOLDER_POSTS:
        r = client.post(url, data={"path": "Team", "user": "bob", "role": "rw"}, headers={"Origin": ORIGIN})
        assert r.status_code == 403, url
        r = client.post(url, data={"csrf": "wrong", "path": "Team", "user": "bob", "role": "rw"},
                        headers={"Origin": ORIGIN})
        assert r.status_code == 403, url
    assert "Team" not in ctx_mounts_of(client)


def ctx_mounts_of(client: TestClient) -> list[str]:
    """The folder rows the signed-in user's Shared folders page lists."""
    return re.findall(r'<tr data-folder="([^"]+)"', client.get("/web/folders").text)


def test_share_a_folder_change_role_revoke_and_leave_through_the_page(client: TestClient, ctx: AppContext) -> None:
    """The page runs the API's store methods: bob gets a mount, the role follows, revoking and leaving remove it;
    refusals keep their status and say why on the page."""
    csrf = sign_in(client, "alice", "alice-pw")
    assert post(client, "/web/mkdir", csrf, folder="", name="Team").status_code == 303
    assert upload(client, csrf, "Team/plan.txt", b"plan")["status"] == 200
    found = ctx.meta.get_user("bob")
    assert found is not None
    bob = found[0]

    r = post(client, "/web/folders/share", csrf, path="Team", user="nobody", role="rw")
    assert r.status_code == 404
    assert "No user named &#39;nobody&#39;" in r.text
    r = post(client, "/web/folders/share", csrf, path="Team/plan.txt", user="bob", role="rw")
    assert r.status_code == 400
    assert "Only folders can be shared" in r.text
    r = post(client, "/web/folders/share", csrf, path="Team", user="bob", role="rw")
    assert r.status_code == 303
    assert "is+shared+with+bob" in r.headers["location"]
    assert [(m.path, m.role, m.owner) for m in ctx.meta.mounts(bob.id)] == [("Team", "rw", "alice")]
    page = client.get("/web/folders").text
    assert 'data-folder="Team" data-member="bob"' in page

    assert post(client, "/web/folders/role", csrf, path="Team", user="bob", role="ro").status_code == 303
    assert [m.role for m in ctx.meta.mounts(bob.id)] == ["ro"]

    bob_csrf = sign_in(client, "bob", "bob-pw")
    r = post(client, "/web/folders/unshare", bob_csrf, path="Team", user="bob")
    assert r.status_code == 403
    assert "Only the folder&#39;s owner" in r.text
    r = post(client, "/web/folders/role", bob_csrf, path="Team", user="bob", role="rw")
    assert r.status_code == 403
    assert [m.role for m in ctx.meta.mounts(bob.id)] == ["ro"]
    assert ctx_mounts_of(client) == ["Team"]
    assert post(client, "/web/folders/leave", bob_csrf, path="Team").status_code == 303
    assert ctx.meta.mounts(bob.id) == []

    csrf = sign_in(client, "alice", "alice-pw")
    assert post(client, "/web/folders/share", csrf, path="Team", user="bob", role="rw").status_code == 303
    r = post(client, "/web/folders/unshare", csrf, path="Team", user="bob")
    assert r.status_code == 303
    assert ctx.meta.mounts(bob.id) == []
    r = post(client, "/web/folders/unshare", csrf, path="Team", user="bob")
    assert r.status_code == 404
    assert "not shared with this user" in r.text
    r = post(client, "/web/folders/leave", csrf, path="Team")
    assert r.status_code == 400
    assert "owner cannot leave" in r.text


def test_a_user_cannot_share_another_users_folder(client: TestClient, ctx: AppContext) -> None:
    """Paths are the caller's own tree: bob naming alice's folder finds nothing of alice's to share."""
    csrf = sign_in(client, "alice", "alice-pw")
    post(client, "/web/mkdir", csrf, folder="", name="Private")
    bob_csrf = sign_in(client, "bob", "bob-pw")
    r = post(client, "/web/folders/share", bob_csrf, path="Private", user="alice", role="rw")
    assert r.status_code == 404
    assert "No folder at this path" in r.text
    found = ctx.meta.get_user("alice")
    assert found is not None
    assert all(m.path != "Private" for m in ctx.meta.mounts(found[0].id))


def test_sharing_from_the_page_wakes_the_change_feed(client: TestClient, ctx: AppContext,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Like the API routes, the page publishes the seqs a share or revoke made, or members' daemons sleep on."""
    published: list[tuple[int, int]] = []
    monkeypatch.setattr(ctx.notifier, "publish", lambda ns_id, seq: published.append((ns_id, seq)))
    csrf = sign_in(client, "alice", "alice-pw")
    post(client, "/web/mkdir", csrf, folder="", name="Wake")
    published.clear()
    assert post(client, "/web/folders/share", csrf, path="Wake", user="bob", role="rw").status_code == 303
    assert len({ns for ns, _ in published}) == 2  # alice's root (the folder moved) and bob's (a new mount)
    published.clear()
    assert post(client, "/web/folders/unshare", csrf, path="Wake", user="bob").status_code == 303
    assert len(published) == 1  # bob's root: the folder left it
