"""The settings window's gate, without a daemon: what a request must carry to reach a page (daemon/webui/guard.py).

The browser tests (tests/e2e/test_webui.py) show the same rules against the real daemon; here each rule is pinned
one by one, quickly, including the ticket's expiry, which a browser test cannot wait for.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from ferrysync.daemon.webui import guard
from ferrysync.daemon.webui.guard import COOKIE, Guard, Secrets

PORT = 4711
HOST = f"127.0.0.1:{PORT}"


async def echo(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"{request.method} ok {(await request.body()).decode()}")


@pytest.fixture
def secrets() -> Secrets:
    return Secrets(prefix="p" * 22, session="s" * 43, csrf="c" * 43)


@pytest.fixture
def client(secrets: Secrets) -> Iterator[TestClient]:
    inner = Starlette(routes=[Mount(f"/{secrets.prefix}", routes=[Route("/x", echo, methods=["GET", "POST"])])])
    c = TestClient(Guard(inner, secrets, lambda: PORT), base_url=f"http://{HOST}")  # no lifespan: the guard has none
    yield c
    c.close()


def test_a_ticket_opens_a_session_once(client: TestClient, secrets: Secrets) -> None:
    secrets.add_ticket("t1")
    first = client.get(f"/{secrets.prefix}/login", params={"ticket": "t1"}, follow_redirects=False)
    assert first.status_code == 303
    cookie = first.headers["set-cookie"]
    assert f"{COOKIE}={secrets.session}" in cookie
    for flag in ("HttpOnly", "SameSite=Strict", f"Path=/{secrets.prefix}"):
        assert flag in cookie
    client.cookies.clear()
    assert client.get(f"/{secrets.prefix}/login", params={"ticket": "t1"}).status_code == 403


def test_a_stale_ticket_is_refused(client: TestClient, secrets: Secrets) -> None:
    now = [1000.0]
    secrets.clock = lambda: now[0]
    secrets.add_ticket("t2")
    now[0] += guard.TICKET_TTL_S + 1
    assert client.get(f"/{secrets.prefix}/login", params={"ticket": "t2"}).status_code == 403


def test_pages_need_the_session_the_host_and_the_prefix(client: TestClient, secrets: Secrets) -> None:
    jar = {COOKIE: secrets.session}
    assert client.get(f"/{secrets.prefix}/x", cookies=jar).text.startswith("GET ok")
    assert client.get(f"/{secrets.prefix}/x").status_code == 403
    assert client.get(f"/{secrets.prefix}/x", cookies={COOKIE: "nope"}).status_code == 403
    rebound = {"Host": f"rebound.example:{PORT}"}
    assert client.get(f"/{secrets.prefix}/x", cookies=jar, headers=rebound).status_code == 403
    assert client.get("/other/x", cookies=jar).status_code == 403


def test_changes_need_the_csrf_token_and_this_origin(client: TestClient, secrets: Secrets) -> None:
    jar = {COOKIE: secrets.session}
    url = f"/{secrets.prefix}/x"
    assert client.post(url, cookies=jar, data={"a": "1"}).status_code == 403
    assert client.post(url, cookies=jar, data={"a": "1", "csrf": "wrong"}).status_code == 403
    ok = client.post(url, cookies=jar, data={"a": "1", "csrf": secrets.csrf}, headers={"Origin": f"http://{HOST}"})
    assert ok.status_code == 200
    assert ok.text == f"POST ok a=1&csrf={secrets.csrf}", "the handler still gets the whole body"
    foreign = client.post(url, cookies=jar, data={"csrf": secrets.csrf}, headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403
    header = client.post(url, cookies=jar, headers={"X-CSRF-Token": secrets.csrf}, content=b"")
    assert header.status_code == 200
    assert client.post(url, cookies=jar, data={"csrf": secrets.csrf, "x": "y" * guard.MAX_FORM}).status_code == 413
