"""An in-process ferry-server (FastAPI TestClient) and helpers to sign a browser-like client in to its web app."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from ferrysync.server.app import build_context, create_app
from ferrysync.server.config import ServerConfig
from ferrysync.server.context import AppContext
from ferrysync.server.passwords import hash_password

ORIGIN = "http://testserver"


@contextmanager
def app_client(data: Path) -> Iterator[tuple[AppContext, TestClient]]:
    ctx = build_context(ServerConfig(data_dir=data, gc_interval_s=0))
    with TestClient(create_app(ctx), follow_redirects=False) as client:
        yield ctx, client


def add_user(ctx: AppContext, name: str, password: str, admin: bool = False) -> None:
    ctx.meta.add_user(name, hash_password(password))
    if admin:
        ctx.meta.set_admin(name, True)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html) or re.search(r'name="csrf-token" content="([^"]+)"',
                                                                          html)
    assert found, html[:500]
    return found.group(1)


def sign_in(client: TestClient, user: str, password: str, origin: str = ORIGIN) -> str:
    """Sign in like a browser; returns the CSRF token of the signed-in pages."""
    client.cookies.clear()
    form = client.get("/web/login")
    r = client.post("/web/login", data={"user": user, "password": password, "csrf": csrf_of(form.text)},
                    headers={"Origin": origin})
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/web/account").text)


def post(client: TestClient, url: str, csrf: str, **fields: str) -> httpx.Response:
    """Post a form of the web app as its page would (CSRF token, our Origin)."""
    response: httpx.Response = client.post(url, data={"csrf": csrf, **fields}, headers={"Origin": ORIGIN})
    return response
