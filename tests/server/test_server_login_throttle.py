"""Login throttling against a real server: a brute-force run gets 429s with Retry-After, the right password works
again after the (short, configured) window or at once after an operator unlock, a client address is throttled over
all accounts, and two processes on one PostgreSQL database count the same failures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cloud import CloudServer, store_args, two_servers
from srvapi import ferry_server
from util import ServerFactory, ServerProcess, wait_until

from ferrysync.server.throttle import LoginThrottle, address_key

LOCKOUT_S = 2


def _login(url: str, user: str, password: str, address: str | None = None) -> requests.Response:
    # uvicorn trusts X-Forwarded-For from 127.0.0.1 (FORWARDED_ALLOW_IPS): how a reverse proxy names the client
    headers = {"X-Forwarded-For": address} if address else {}
    return requests.post(f"{url}/v1/login", json={"user": user, "password": password, "device_name": "t"},
                         headers=headers, timeout=20)


def _throttled_server(server_factory: ServerFactory, *extra: str) -> ServerProcess:
    s = server_factory.make(["--login-free-failures", "3", "--login-lockout", str(LOCKOUT_S), *extra])
    s.add_user("alice", "alice-pw")
    return s


def test_brute_force_gets_429s_and_the_right_password_works_after_the_window(
        server_factory: ServerFactory) -> None:
    s = _throttled_server(server_factory)
    codes = [_login(s.url, "alice", f"guess-{i}").status_code for i in range(20)]
    assert codes[:3] == [401, 401, 401]  # the free failures
    assert codes.count(429) >= 10, codes  # the rest are refused without a password check
    refused = _login(s.url, "alice", "alice-pw")  # even the right password, while locked: no oracle
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "too_many_attempts"
    assert 1 <= int(refused.headers["Retry-After"]) <= LOCKOUT_S
    assert error["retry_after"] == int(refused.headers["Retry-After"])
    def accepted() -> requests.Response | None:
        r = _login(s.url, "alice", "alice-pw")
        return r if r.status_code == 200 else None

    ok = wait_until(accepted, timeout=LOCKOUT_S + 5, interval=0.25, what="the right password after the lockout")
    assert ok.json()["user"] == "alice"
    # the success cleared the account's count: a new mistake is free again
    assert _login(s.url, "alice", "typo").status_code == 401


def test_an_operator_unlocks_an_account_at_once(server_factory: ServerFactory) -> None:
    s = server_factory.make(["--login-free-failures", "1", "--login-delay-steps", "0", "--login-lockout", "600"])
    s.add_user("alice", "alice-pw")
    assert [_login(s.url, "alice", f"guess-{i}").status_code for i in range(3)] == [401, 401, 429]
    locked = _login(s.url, "alice", "alice-pw")
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 60
    listed = ferry_server("throttle", "list", "--data", str(s.data))
    assert "user:alice\t" in listed.stdout
    assert "locked until" in listed.stdout
    res = ferry_server("user", "unlock", "alice", "--data", str(s.data))
    assert res.returncode == 0, res.stderr
    assert _login(s.url, "alice", "alice-pw").status_code == 200


def test_one_address_is_throttled_over_all_accounts_and_can_be_unlocked(server_factory: ServerFactory) -> None:
    s = _throttled_server(server_factory, "--login-address-free-failures", "4", "--login-delay-steps", "0",
                          "--login-lockout", "600")
    attacker, neighbour = "203.0.113.7", "198.51.100.20"
    codes = [_login(s.url, f"victim{i}", "password1", attacker).status_code for i in range(7)]
    assert codes[:5] == [401] * 5  # each account once: only the address counts up (4 free, the 5th locks)
    assert codes[5:] == [429, 429]
    assert _login(s.url, "alice", "alice-pw", attacker).status_code == 429
    assert _login(s.url, "alice", "alice-pw", neighbour).status_code == 200
    res = ferry_server("throttle", "unlock", "--address", attacker, "--data", str(s.data))
    assert res.returncode == 0, res.stderr
    assert _login(s.url, "alice", "alice-pw", attacker).status_code == 200


def test_an_ipv6_client_is_throttled_by_its_64_and_loopback_not_by_address() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::9") == "addr:2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:203.0.113.5") == "addr:203.0.113.5"
    assert address_key("127.0.0.1") is None
    assert address_key("::1") is None


def test_the_delay_doubles_after_the_free_failures_then_locks_out() -> None:
    throttle = LoginThrottle(meta=None, user_free=3, address_free=20, delay_steps=4, lockout_s=900)  # type: ignore[arg-type]
    delay = throttle._delay(3)
    assert [delay(n) for n in range(1, 11)] == [0, 0, 0, 1000, 2000, 4000, 8000, 900_000, 900_000, 900_000]
    short = LoginThrottle(meta=None, user_free=3, address_free=20, delay_steps=5, lockout_s=2)  # type: ignore[arg-type]
    assert [short._delay(3)(n) for n in range(3, 7)] == [0, 1000, 2000, 2000]


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[CloudServer, CloudServer]]:
    """Two throttled server processes on one PostgreSQL database and one bucket, and a user alice."""
    throttle = ["--login-free-failures", "2", "--login-delay-steps", "0", "--login-lockout", "600"]
    with two_servers(tmp_path, tuple(throttle)) as servers:
        yield servers


def test_processes_sharing_postgresql_count_the_same_failures(pair: tuple[CloudServer, CloudServer]) -> None:
    first, second = pair
    assert _login(first.url, "alice", "guess-1").status_code == 401
    assert _login(second.url, "alice", "guess-2").status_code == 401
    assert _login(first.url, "alice", "guess-3").status_code == 401  # the third failure overall locks
    assert _login(second.url, "alice", "alice-pw").status_code == 429
    res = ferry_server("user", "unlock", "alice", "--data", str(first.data),
                       *store_args(first.extra_args, blocks=False))
    assert res.returncode == 0, res.stderr
    assert _login(second.url, "alice", "alice-pw").status_code == 200
