"""Unauthenticated requests cannot grow the server's memory without bound: parallel logins share a bounded argon2
pool (64 MiB per hash) and get 503 with Retry-After past its queue, and a stranger's large body is refused before
it is read (login: 413; any other route without a valid token: 401)."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from util import ServerFactory, ServerProcess

MIB = 1024 * 1024
# argon2id takes 64 MiB per hash: the default pool (2 slots) may add 128 MiB, plus threads and buffers. Without
# the pool, 60 parallel logins took the server from 112 MB to 2.3 GB.
GROWTH_BOUND = 300 * MIB


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _pid(s: ServerProcess) -> int:
    assert s.proc is not None
    return s.proc.pid


def _login(url: str, user: str) -> requests.Response:
    return requests.post(f"{url}/v1/login", json={"user": user, "password": "wrong", "device_name": "x"},
                         timeout=60)


def test_sixty_parallel_wrong_logins_keep_memory_bounded(server_factory: ServerFactory) -> None:
    s = server_factory.make()
    assert _login(s.url, "warm-up").status_code == 401  # the first hash, the thread pool: part of the baseline
    before = _status_kib(_pid(s), "VmHWM") * 1024
    with ThreadPoolExecutor(60) as pool:  # 60 accounts, so the per-account throttle does not step in
        answers = list(pool.map(lambda i: _login(s.url, f"nobody{i}"), range(60)))
    peak = _status_kib(_pid(s), "VmHWM") * 1024
    codes = sorted(r.status_code for r in answers)
    assert set(codes) <= {401, 503}, codes
    assert codes.count(401) >= 2  # the pool's slots and queue were served
    busy = [r for r in answers if r.status_code == 503]
    assert all(r.json()["error"]["code"] == "busy" and int(r.headers["Retry-After"]) >= 1 for r in busy)
    growth = peak - before
    print(f"VmHWM {before / MIB:.0f} MiB -> {peak / MIB:.0f} MiB (+{growth / MIB:.0f} MiB); "
          f"{codes.count(401)} answered 401, {len(busy)} got 503")
    assert growth < GROWTH_BOUND, f"peak RSS grew by {growth / MIB:.0f} MiB"


def _declare(url_port: int, request_line: str, declared: int, send: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", url_port), timeout=10)
    sock.sendall(f"{request_line}\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
                 .encode() + b"x" * send)
    return sock


def _status_line(sock: socket.socket) -> str:
    data = b""
    while b"\r\n" not in data:
        piece = sock.recv(4096)
        if not piece:
            break
        data += piece
    return data.split(b"\r\n", 1)[0].decode()


def test_strangers_declaring_large_bodies_are_answered_before_the_body_is_read(
        server_factory: ServerFactory) -> None:
    s = server_factory.make()
    rss_before = _status_kib(_pid(s), "VmRSS") * 1024
    logins = [_declare(s.port, "POST /v1/login HTTP/1.1", 8 * MIB, 256 * 1024) for _ in range(30)]
    uploads = [_declare(s.port, f"PUT /v1/blocks/{'a' * 64} HTTP/1.1", 8 * MIB, 256 * 1024) for _ in range(10)]
    try:
        assert [_status_line(c) for c in logins] == ["HTTP/1.1 413 Request Entity Too Large"] * 30
        assert [_status_line(c) for c in uploads] == ["HTTP/1.1 401 Unauthorized"] * 10
        held = _status_kib(_pid(s), "VmRSS") * 1024 - rss_before
        print(f"VmRSS while 40 connections held 8 MiB bodies open: +{held / MIB:.0f} MiB")
        assert held < 64 * MIB
    finally:
        for c in logins + uploads:
            c.close()
    assert requests.get(f"{s.url}/v1/health", timeout=10).ok
