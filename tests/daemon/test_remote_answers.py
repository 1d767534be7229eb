"""Reading an answer that holds blocks (remote/bodies.py `answer_pieces`) from a real HTTP server on loopback.

Unlimited, an answer of a declared length is read in one call (5× less CPU than requests' `.content`); a download
limit paces it piece by piece; an answer longer than it may be is refused before its bytes are read; one cut short
is a transport error the client maps like any other (the block is fetched again), never bytes handed out.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
import requests

from ferrysync.daemon.remote.bodies import PACED_PIECE, answer_pieces
from ferrysync.daemon.remote.errors import ProtocolError, ServerUnavailable, error_from_exception

BODY = bytes(range(256)) * 4096  # 1 MiB


def _serve(answer: Callable[[socket.socket], None]) -> Iterator[str]:
    """A one-thread HTTP server on a free loopback port that answers every request with `answer`."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                buf = b""
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
                if buf:
                    with contextlib.suppress(OSError):  # the client may stop reading (a refused answer)
                        answer(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (closing alone does not, on Linux)
        listener.close()
        thread.join(5)


def _whole(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(BODY) + BODY)


def _cut_short(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(BODY)
                 + BODY[:1000])


def _boasting(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\nConnection: close\r\n\r\n" + BODY[:10])


def _gzip_bomb(conn: socket.socket) -> None:
    packed = gzip.compress(bytes(10 * len(BODY)))  # ~10 KB on the wire, 10 MiB once decoded
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                 % len(packed) + packed)


def _chunked(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    for i in range(0, len(BODY), 100_000):
        part = BODY[i:i + 100_000]
        conn.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
    conn.sendall(b"0\r\n\r\n")


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from _serve(request.param)


class _Limit:
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.consumed: list[int] = []

    def consume(self, n: int) -> object:
        self.consumed.append(n)
        return None


def _get(url: str) -> requests.Response:
    return requests.get(url, stream=True, timeout=10)


@pytest.mark.parametrize("server", [_whole], indirect=True)
def test_unlimited_an_answer_of_a_declared_length_is_read_in_one_piece(server: str) -> None:
    unlimited = _Limit(0)
    pieces = list(answer_pieces(_get(server), len(BODY), unlimited))
    assert [len(p) for p in pieces] == [len(BODY)]
    assert pieces[0] == BODY
    assert unlimited.consumed == []


@pytest.mark.parametrize("server", [_whole], indirect=True)
def test_a_limit_paces_the_answer_piece_by_piece(server: str) -> None:
    limited = _Limit(1e6)
    pieces = list(answer_pieces(_get(server), len(BODY), limited))
    assert b"".join(pieces) == BODY
    assert max(len(p) for p in pieces) <= PACED_PIECE
    assert sum(limited.consumed) == len(BODY)
    assert len(limited.consumed) == len(pieces)


@pytest.mark.parametrize("server", [_boasting], indirect=True)
def test_an_answer_announcing_more_than_may_come_is_refused_before_it_is_read(server: str) -> None:
    with pytest.raises(ProtocolError, match="announces 99999999999 bytes"):
        next(answer_pieces(_get(server), len(BODY)))


@pytest.mark.parametrize("server", [_gzip_bomb], indirect=True)
def test_a_compressed_answer_is_held_to_the_limit_once_decoded(server: str) -> None:
    """A declared length is the compressed one: what counts is what the answer decodes to."""
    with pytest.raises(ProtocolError, match="more than the"):
        b"".join(answer_pieces(_get(server), len(BODY)))


@pytest.mark.parametrize("server", [_chunked], indirect=True)
def test_an_answer_of_no_declared_length_is_read_in_pieces_and_held_to_the_limit(server: str) -> None:
    assert b"".join(answer_pieces(_get(server), len(BODY))) == BODY
    with pytest.raises(ProtocolError, match="more than the 500000 bytes"):
        b"".join(answer_pieces(_get(server), 500_000))


@pytest.mark.parametrize("server", [_cut_short], indirect=True)
def test_an_answer_cut_short_is_a_transport_error_the_client_retries_never_bytes(server: str) -> None:
    with pytest.raises(requests.RequestException) as err:
        b"".join(answer_pieces(_get(server), len(BODY)))
    assert isinstance(error_from_exception(err.value, "GET block"), ServerUnavailable)
