"""A quota refusal as a desktop lives it: the file stays on disk, `ferry errors` says the account is full and the
daemon retries on its own; once the operator raises the quota the file goes up without anyone touching it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from typing import Any

import requests
from devices import Device
from util import ServerProcess, bin_path, wait_until


def set_quota(server: ServerProcess, size: str) -> None:
    subprocess.run([bin_path("ferry-server"), "user", "quota", "alice", size, "--data", str(server.data)],
                   check=True, capture_output=True, timeout=60)


def server_paths(server: ServerProcess, token: str) -> dict[str, Any]:
    r = requests.get(f"{server.url}/v1/changes", params={"cursor": 0}, timeout=10,
                     headers={"Authorization": f"Bearer {token}"})
    r.raise_for_status()
    return {e["path"]: e for e in r.json()["entries"] if not e["deleted"]}


def test_a_full_account_is_an_error_that_retries_never_a_loss(server: ServerProcess,
                                                              make_device: Callable[..., Device]) -> None:
    set_quota(server, "100KB")
    laptop = make_device("laptop")
    (laptop.folder / "small.txt").write_bytes(b"s" * 10_000)
    laptop.wait_synced()
    big = os.urandom(200_000)
    (laptop.folder / "big.bin").write_bytes(big)

    def full_error() -> dict[str, Any] | None:
        return next((e for e in laptop.json("errors")["errors"] if e["path"].endswith("big.bin")), None)

    error = wait_until(full_error, timeout=60, what="a quota error on big.bin")
    assert "account on the server is full" in error["message"]
    assert (laptop.folder / "big.bin").read_bytes() == big
    token = server.login("alice", "alice-pw", "checker")
    assert "Shared/big.bin" not in server_paths(server, token)

    set_quota(server, "none")
    wait_until(lambda: "Shared/big.bin" in server_paths(server, token), timeout=90,
               what="big.bin uploaded after the quota was lifted")
    wait_until(lambda: full_error() is None, timeout=30, what="the error to clear")
    assert (laptop.folder / "big.bin").read_bytes() == big
