"""Slow, stalled and vanishing clients against a real ferry-server: they are dropped within the timeouts, others
are still served meanwhile, and a client hanging up is counted as 499, never as a server error."""

from __future__ import annotations

import contextlib
import re
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from util import ServerFactory, ServerProcess, wait_until

from ferrysync.server.hashing import block_hash

HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0
SLACK = 2.5  # scheduling on a busy 2-core machine


@pytest.fixture
def guarded(server_factory: ServerFactory) -> ServerProcess:
    s = server_factory.make(["--header-timeout", str(HEADER_TIMEOUT), "--body-timeout", str(BODY_TIMEOUT)])
    s.add_user("alice", "alice-pw")
    return s


def _connect(server: ServerProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


def _metrics(server: ServerProcess) -> str:
    r = requests.get(f"{server.url}/metrics", timeout=5)
    assert r.status_code == 200
    return r.text


def _sample(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_slowloris_connections_are_closed_within_the_header_timeout_and_others_are_served(
        guarded: ServerProcess) -> None:
    socks = []
    for _ in range(300):
        s = _connect(guarded)
        s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        socks.append(s)
    opened = time.monotonic()
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    served = 0
    trickled = 0.0
    while sel.get_map() and time.monotonic() < opened + HEADER_TIMEOUT + SLACK:
        if served < 3:  # a normal client, while the slow ones are still connected
            started = time.monotonic()
            assert requests.get(f"{guarded.url}/v1/health", timeout=5).status_code == 200
            assert time.monotonic() - started < 1.0
            served += 1
        if time.monotonic() - trickled > 0.5:  # a byte now and then does not buy more time
            trickled = time.monotonic()
            for key in list(sel.get_map().values()):
                assert isinstance(key.fileobj, socket.socket)
                with contextlib.suppress(OSError):  # closed by the server meanwhile
                    key.fileobj.sendall(b"X")
        for key, _ in sel.select(timeout=0.1):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if _closed_by_server(sock):
                sel.unregister(sock)
    still_open = len(sel.get_map())
    for s in socks:
        s.close()
    assert still_open == 0, f"{still_open} of 300 slow connections still open {HEADER_TIMEOUT + SLACK} s later"
    assert served == 3
    assert _sample(_metrics(guarded), "ferry_slow_connections_closed_total") == 300
    # Only 256 may wait for their headers at once (the default): the oldest made room for the newer ones.
    evicted = guarded.log.read_text(errors="replace").count("evicted: too many connections waiting for their headers")
    assert evicted >= 300 - 256


def _metrics_once(server: ServerProcess, sample: str, what: str) -> str:
    """The metrics text once `sample` has counted one request."""
    def counted() -> str | None:
        text = _metrics(server)
        return text if _sample(text, sample) == 1 else None
    return wait_until(counted, timeout=5, what=what)


def _stall_upload(server: ServerProcess, token: str, declared: int, send: int) -> socket.socket:
    digest = block_hash(b"never completely sent")
    s = _connect(server)
    s.sendall(f"PUT /v1/blocks/{digest} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
              f"Content-Type: application/octet-stream\r\nContent-Length: {declared}\r\n\r\n".encode()
              + b"x" * send)
    return s


def test_a_stalled_body_is_dropped_and_counted_as_the_client_going_away(guarded: ServerProcess) -> None:
    token = guarded.login("alice", "alice-pw")
    sock = _stall_upload(guarded, token, declared=1000, send=3)
    sock.settimeout(BODY_TIMEOUT + SLACK)
    started = time.monotonic()
    assert _closed_by_server(sock)
    assert time.monotonic() - started < BODY_TIMEOUT + SLACK
    sock.close()
    route = 'ferry_http_requests_total{method="PUT",route="/v1/blocks/{digest}",status="499"}'
    text = _metrics_once(guarded, route, "the stalled upload counted as 499")
    assert not re.search(r'status="5\d\d"', text)
    assert _sample(text, "ferry_slow_connections_closed_total") == 1


def test_a_client_hanging_up_mid_upload_is_not_a_server_error(guarded: ServerProcess) -> None:
    token = guarded.login("alice", "alice-pw")
    sock = _stall_upload(guarded, token, declared=4 * 1024 * 1024, send=256 * 1024)
    sock.close()
    route = 'ferry_http_requests_total{method="PUT",route="/v1/blocks/{digest}",status="499"}'
    text = _metrics_once(guarded, route, "the hang-up counted as 499")
    assert not re.search(r'status="5\d\d"', text)
    assert _sample(text, "ferry_slow_connections_closed_total") == 0  # it left by itself
    log = guarded.log.read_text(errors="replace")
    assert "Traceback" not in log
    assert "ClientDisconnect" not in log
    ok = requests.put(f"{guarded.url}/v1/blocks/{block_hash(b'fine')}", data=b"fine", timeout=5,
                      headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 201


def _raw_request(server: ServerProcess, head: bytes) -> bytes:
    """Send `head` on a fresh connection; everything the server answers until it closes (or 5 s pass)."""
    with _connect(server) as s:
        s.sendall(head)
        answer = b""
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := s.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer and b"Connection: close" not in answer and b"connection: close" not in answer:
                    break
    return answer


def test_headers_over_16_kib_are_refused_with_400_and_a_request_within_it_is_served(guarded: ServerProcess) -> None:
    """llhttp, unlike h11, sets no limit: without one, a client could make the server hold megabytes of headers
    per connection until the header deadline. Refused as h11 refused them; a large legitimate request passes."""
    fine = b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 12_000 + b"\r\n\r\n"
    assert _raw_request(guarded, fine).startswith(b"HTTP/1.1 200")
    for huge in (b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"p" * 17_000 + b"\r\n\r\n",
                 b"GET /v1/health?" + b"q" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"GET /v1/health HTTP/1.1\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 100) for i in range(200))
                 + b"\r\n"):
        answer = _raw_request(guarded, huge)
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert requests.get(f"{guarded.url}/v1/health", timeout=5).status_code == 200
    assert "Traceback" not in guarded.log.read_text(errors="replace")


@pytest.mark.parametrize(("flag", "value"), [("--limit-concurrency", "0"), ("--keep-alive", "0"),
                                             ("--max-waiting-connections", "-3"), ("--header-timeout", "0"),
                                             ("--body-timeout", "nan"), ("--limit-concurrency", "many"),
                                             ("--hash-slots", "0"), ("--hash-queue", "-1"),
                                             ("--login-lockout", "-5"), ("--token-ttl-days", "nan")])
def test_a_guard_set_to_serve_nobody_is_refused_at_start(flag: str, value: str, tmp_path: Path) -> None:
    """`--limit-concurrency 0` would answer 503 to every request, `--header-timeout 0` drop every connection,
    `--hash-slots 0` refuse every login: the server refuses to start, naming the flag, instead of running and
    serving no one."""
    res = subprocess.run([sys.executable, "-m", "ferrysync.server.cli", "serve", "--data", str(tmp_path), flag, value],
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 2, res.stderr
    assert flag in res.stderr
