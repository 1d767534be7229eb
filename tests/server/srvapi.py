"""A tiny HTTP client of the Ferry API for the server tests (requests; no code shared with the daemon)."""

from __future__ import annotations

import struct
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import blake3
import requests
from util import ServerProcess, bin_path, free_port

BLOCK = 64 * 1024


def h(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def split(data: bytes, size: int = BLOCK) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def content_hash(blocks: list[str]) -> str:
    hasher = blake3.blake3()
    for digest in blocks:
        hasher.update(bytes.fromhex(digest))
    return hasher.hexdigest()


def batch_body(blocks: list[bytes], claimed: list[str] | None = None) -> bytes:
    out = bytearray()
    for i, data in enumerate(blocks):
        out += (claimed[i] if claimed else h(data)).encode() + struct.pack(">Q", len(data)) + data
    return bytes(out)


class Api:
    def __init__(self, url: str, token: str, user: str = "") -> None:
        self.url = url
        self.token = token
        self.user = user
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.s.get(self.url + path, timeout=kw.pop("timeout", 30), **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.s.post(self.url + path, timeout=kw.pop("timeout", 30), **kw)

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self.s.put(self.url + path, timeout=kw.pop("timeout", 30), **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.s.delete(self.url + path, timeout=kw.pop("timeout", 30), **kw)

    def ok(self, resp: requests.Response, status: int = 200) -> Any:
        assert resp.status_code == status, (resp.status_code, resp.text[:500])
        return resp.json()

    def missing(self, hashes: list[str]) -> list[str]:
        return list(self.ok(self.post("/v1/blocks/missing", json={"hashes": hashes}))["missing"])

    def upload(self, data: bytes) -> str:
        digest = h(data)
        self.ok(self.put(f"/v1/blocks/{digest}", data=data), 201)
        return digest

    def commit(self, *ops: dict[str, Any]) -> list[dict[str, Any]]:
        return list(self.ok(self.post("/v1/commit", json={"ops": list(ops)}))["results"])

    def put_file(self, path: str, data: bytes, base_rev: int | None = None, mtime_ns: int = 1,
                 executable: bool = False) -> dict[str, Any]:
        blocks = [self.upload(b) for b in split(data)]
        (res,) = self.commit(put_op(path, blocks, len(data), base_rev, mtime_ns, executable))
        assert res["ok"], res
        return dict(res["entry"])

    def one(self, op: dict[str, Any]) -> dict[str, Any]:
        (res,) = self.commit(op)
        return res

    def changes(self, cursor: int | str = 0, limit: int | None = None) -> dict[str, Any]:
        params = {"cursor": cursor} | ({"limit": limit} if limit else {})
        return dict(self.ok(self.get("/v1/changes", params=params)))

    def all_changes(self, cursor: int | str = 0, limit: int = 1000) -> tuple[list[dict[str, Any]], Any]:
        out: list[dict[str, Any]] = []
        while True:
            page = self.changes(cursor, limit)
            out += page["entries"]
            cursor = page["cursor"]
            if not page["has_more"]:
                return out, cursor

    def tree(self) -> dict[str, dict[str, Any]]:
        entries, _ = self.all_changes(0)
        return {e["path"]: e for e in entries}

    def download(self, entry: dict[str, Any]) -> bytes:
        return b"".join(self.get(f"/v1/blocks/{d}").content for d in entry["blocks"])


def put_op(path: str, blocks: list[str], size: int, base_rev: int | None = None, mtime_ns: int = 1,
           executable: bool = False) -> dict[str, Any]:
    return {"op": "put", "path": path, "blocks": blocks, "size": size, "mtime_ns": mtime_ns,
            "executable": executable, "base_rev": base_rev}


def ferry_server(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([bin_path("ferry-server"), *args], input=stdin, capture_output=True, text=True,
                          timeout=60)


def new_user_name() -> str:
    return "u" + uuid.uuid4().hex[:12]


class Server(ServerProcess):
    """A ferry-server process on a free port, not yet started (tests/util.py's ServerProcess)."""

    def __init__(self, data: Path, extra_args: list[str] | None = None, scheme: str = "http",
                 verify: str | bool = True) -> None:
        super().__init__(data=data, port=free_port(), log=data.parent / f"{data.name}.log",
                         extra_args=list(extra_args or []), scheme=scheme, verify=verify)


UserFactory = Callable[[], Api]  # a fixture that signs up a new user and answers their API client
