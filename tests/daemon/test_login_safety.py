"""`ferry login` against a real server: no password over plain HTTP to another machine unless asked, and no active
device left behind on the server when this machine cannot keep its token."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest
from util import ServerFactory, ServerProcess, bin_path

from ferrysync.daemon.cli.session import is_loopback_host, plain_http_refusal
from ferrysync.daemon.remote import RemoteClient


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"FERRY_HOME": str(tmp_path / "home"), "XDG_DATA_HOME": str(tmp_path / "keyring"),
                "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
                "DBUS_SESSION_BUS_ADDRESS": "disabled:"})
    env.update(extra)
    return env


def _login(tmp_path: Path, url: str, *extra: str, env: dict[str, str] | None = None,
           device: str = "laptop") -> subprocess.CompletedProcess[str]:
    return subprocess.run([bin_path("ferry"), "login", url, "--user", "alice", "--password-stdin", "--device-name",
                           device, *extra], input="alice-pw\n", capture_output=True, text=True, timeout=60,
                          env=env or _env(tmp_path))


def _active_devices(server: ServerProcess) -> list[str]:
    with RemoteClient(server.url, retries=0) as c:
        c.login("alice", "alice-pw", "checker")
        return sorted(d.name for d in c.devices() if d.name != "checker")


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.8.9.10", "[::1]", "app.localhost"])
def test_loopback_hosts_are_allowed_over_plain_http(host: str) -> None:
    assert is_loopback_host(host.strip("[]"))
    assert plain_http_refusal(f"http://{host}:8765") is None


def test_plain_http_to_another_machine_is_refused_before_the_password_is_asked(tmp_path: Path) -> None:
    result = _login(tmp_path, "http://ferry.example.org:8765")
    assert result.returncode == 1
    assert "refusing to log in to http://ferry.example.org:8765 over plain http://" in result.stderr
    assert "--insecure-http" in result.stderr
    assert "Password" not in result.stderr + result.stdout
    assert plain_http_refusal("https://ferry.example.org") is None
    assert not (tmp_path / "home" / "config" / "config.toml").exists() or "server_url" not in (
        tmp_path / "home" / "config" / "config.toml").read_text()


def _lan_address() -> str | None:
    """This machine's address on its default route (no packet is sent), or None if it has only loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
        except OSError:
            return None
        addr = str(s.getsockname()[0])
    return None if addr.startswith("127.") else addr


def test_insecure_http_lets_a_plain_http_login_through(server_factory: ServerFactory, tmp_path: Path) -> None:
    lan = _lan_address()
    if lan is None:
        pytest.skip("this machine has no non-loopback address to reach a server on")
    server = server_factory.make(["--host", "0.0.0.0"])  # reached by its LAN address
    server.add_user("alice", "alice-pw")
    url = f"http://{lan}:{server.port}"
    assert _login(tmp_path, url).returncode == 1
    result = _login(tmp_path, url, "--insecure-http")
    assert result.returncode == 0, result.stderr
    assert f"Logged in to {url} as alice" in result.stdout


def test_a_token_that_cannot_be_stored_is_revoked_on_the_server(server: ServerProcess, tmp_path: Path) -> None:
    # No usable keyring (a headless machine without a Secret Service): the login itself succeeds on the server.
    env = _env(tmp_path, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    result = _login(tmp_path, server.url, env=env, device="headless")
    assert result.returncode == 1
    assert "keyring" in result.stderr
    assert "was revoked again" in result.stderr
    assert _active_devices(server) == []
    # the same login with a working store leaves exactly its device
    assert _login(tmp_path, server.url, device="laptop").returncode == 0
    assert _active_devices(server) == ["laptop"]
