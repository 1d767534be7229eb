"""Retries and error mapping against a scripted local HTTP server: idempotent calls survive hiccups, commits
are never replayed, and every failure arrives as a typed error with the server's code and message."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field

import pytest
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ferrysync.daemon.remote import (
    BadRequest,
    ConflictError,
    InsufficientStorage,
    NotFound,
    ProtocolError,
    RemoteClient,
    RemoteError,
    ServerUnavailable,
    Unauthorized,
)
from ferrysync.daemon.remote.types import MkdirOp

Reply = tuple[int, object] | None  # None = drop the connection without answering


@dataclass
class Script:
    """Per path, the replies to give in order (the last one repeats); counts what arrived."""

    replies: dict[str, list[Reply]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self, key: str) -> Reply:
        with self.lock:
            n = self.hits.get(key, 0)
            self.hits[key] = n + 1
            seq = self.replies.get(key, [(404, {"error": {"code": "not_found", "message": "no route"}})])
            return seq[min(n, len(seq) - 1)]


def _handler(script: Script) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            script.headers.append(dict(self.headers))
            reply = script.next(f"{self.command} {self.path.split('?')[0]}")
            if reply is None:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            status, body = reply
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def scripted() -> Iterator[Callable[[Script], RemoteClient]]:
    servers: list[http.server.ThreadingHTTPServer] = []
    clients: list[RemoteClient] = []

    def make(script: Script) -> RemoteClient:
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(httpd)
        client = RemoteClient(f"http://127.0.0.1:{httpd.server_address[1]}", "tok", retries=3, backoff=0.01)
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()
    for s in servers:
        s.shutdown()
        s.server_close()


ACCOUNT = {"user": "alice", "bytes": 1, "files": 1, "blocks_bytes": 1}
UNAVAILABLE = (503, {"error": {"code": "unavailable", "message": "busy"}})


def test_get_survives_5xx_and_dropped_connections(scripted: Callable[[Script], RemoteClient]) -> None:
    script = Script({"GET /v1/account": [UNAVAILABLE, None, (200, ACCOUNT)]})
    assert scripted(script).account().files == 1
    assert script.hits["GET /v1/account"] == 3
    assert script.headers[-1]["Authorization"] == "Bearer tok"


def test_missing_is_a_post_that_is_safe_to_retry(scripted: Callable[[Script], RemoteClient]) -> None:
    script = Script({"POST /v1/blocks/missing": [UNAVAILABLE, UNAVAILABLE, (200, {"missing": ["ab"]})]})
    assert scripted(script).missing(["ab", "cd"]) == ["ab"]
    assert script.hits["POST /v1/blocks/missing"] == 3


def test_commit_is_never_replayed(scripted: Callable[[Script], RemoteClient]) -> None:
    script = Script({"POST /v1/commit": [UNAVAILABLE, (200, {"results": []})]})
    with pytest.raises(ServerUnavailable) as info:
        scripted(script).commit([MkdirOp("a")])
    assert info.value.status == 503
    assert script.hits["POST /v1/commit"] == 1


def test_commit_dropped_mid_request_is_not_replayed(scripted: Callable[[Script], RemoteClient]) -> None:
    script = Script({"POST /v1/commit": [None, (200, {"results": []})]})
    with pytest.raises(ServerUnavailable):
        scripted(script).commit([MkdirOp("a")])
    assert script.hits["POST /v1/commit"] == 1


def test_retries_give_up_as_server_unavailable(scripted: Callable[[Script], RemoteClient]) -> None:
    script = Script({"GET /v1/account": [UNAVAILABLE]})
    with pytest.raises(ServerUnavailable):
        scripted(script).account()
    assert script.hits["GET /v1/account"] == 4  # first try + 3 retries


def test_connection_refused_is_offline_not_a_crash() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed on exit: nothing listens there
    with RemoteClient(f"http://127.0.0.1:{port}", "t", retries=2, backoff=0.01) as client, \
            pytest.raises(ServerUnavailable) as info:
        client.account()
    assert info.value.code == "unreachable"


@pytest.mark.parametrize(("status", "code", "exc"), [
    (401, "unauthorized", Unauthorized),
    (404, "not_found", NotFound),
    (409, "conflict", ConflictError),
    (400, "bad_path", BadRequest),
    (507, "insufficient_storage", InsufficientStorage),
])
def test_errors_are_typed_with_the_servers_code_and_message(
        scripted: Callable[[Script], RemoteClient], status: int, code: str, exc: type[RemoteError]) -> None:
    script = Script({"GET /v1/account": [(status, {"error": {"code": code, "message": "words for humans"}})]})
    with pytest.raises(exc) as info:
        scripted(script).account()
    err = info.value
    assert err.code == code
    assert err.status == status
    assert "words for humans" in str(err)
    assert script.hits["GET /v1/account"] == 1  # 4xx and 507 are answers, not hiccups


def test_non_contract_answers_are_protocol_errors(scripted: Callable[[Script], RemoteClient]) -> None:
    script = Script({"GET /v1/account": [(200, b"<html>proxy login</html>")],
                     "GET /v1/changes": [(200, {"entries": [{"path": "a", "kind": "file"}], "cursor": 1})]})
    client = scripted(script)
    with pytest.raises(ProtocolError, match="not JSON"):
        client.account()
    with pytest.raises(ProtocolError, match="file_id"):
        client.changes(0)


def test_corrupted_block_from_the_wire_is_refused(scripted: Callable[[Script], RemoteClient]) -> None:
    from ferrysync.daemon.local.chunker import block_hash
    h = block_hash(b"the real bytes")
    script = Script({f"GET /v1/blocks/{h}": [(200, b"other bytes")]})
    with pytest.raises(ProtocolError) as info:
        scripted(script).get_block(h)
    assert info.value.code == "hash_mismatch"


def test_retry_policy_per_endpoint() -> None:
    """Which calls may be replayed is a deliberate list: check the adapter each URL gets."""
    with RemoteClient("http://127.0.0.1:9", "t", retries=4) as client:
        def policy(path: str) -> Retry:
            adapter = client._session.get_adapter(client.base_url + path)
            assert isinstance(adapter, HTTPAdapter)
            return adapter.max_retries

        def replayed(path: str) -> Collection[str]:
            methods = policy(path).allowed_methods
            assert methods is not None, "every method replayed"
            return methods

        assert "POST" in replayed("/v1/blocks/missing")
        assert "POST" in replayed("/v1/blocks/batch")
        for unsafe in ("/v1/commit", "/v1/login", "/v1/logout", "/v1/restore"):
            assert "POST" not in replayed(unsafe), unsafe
            assert policy(unsafe).connect == 4  # refused connections are still retried: nothing was sent
        assert policy("/v1/changes/wait").read == 0
        assert policy("/v1/changes").read == 4
