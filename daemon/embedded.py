"""The embedded local cloud: a `ferry-server` on loopback with its data in the user's data dir.

`ferry up` with no server configured sets it up once (a local account, this device logged in); afterwards the
daemon starts it beside itself and stops it on exit, so one `ferry up` or `ferry start` is all a user runs.
"""

from __future__ import annotations

import getpass
import logging
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

from ferrysync.daemon.atomic import private_opener
from ferrysync.daemon.paths import FerryPaths

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0


def cloud_dir(paths: FerryPaths) -> Path:
    return paths.data_dir / "cloud"


def server_command() -> list[str]:
    """The ferry-server entry point of this installation (the same venv or bundle as the daemon)."""
    candidate = Path(sys.executable).parent / "ferry-server"
    if candidate.exists():
        return [str(candidate)]
    found = shutil.which("ferry-server")
    return [found] if found else [sys.executable, "-m", "ferrysync.server.cli"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthy(url: str) -> bool:
    try:
        with urlopen(f"{url}/v1/health", timeout=1) as r:
            return bool(r.status == 200)
    except (URLError, OSError):
        return False


def start_server(paths: FerryPaths, port: int) -> subprocess.Popen[bytes] | None:
    """Start the local cloud on 127.0.0.1:`port` unless one already answers there; wait until it is healthy."""
    url = f"http://127.0.0.1:{port}"
    if healthy(url):
        return None  # still running from an earlier daemon: reuse it
    data = cloud_dir(paths)
    data.mkdir(parents=True, exist_ok=True)
    log_file = open(paths.log_dir / "ferry-server.log", "ab", opener=private_opener)  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen([*server_command(), "serve", "--data", str(data), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log_file, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the local cloud failed to start (exit {proc.returncode}); "
                               f"see {paths.log_dir / 'ferry-server.log'}")
        if healthy(url):
            log.info("local cloud running on %s (data in %s)", url, data)
            return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the local cloud did not answer on {url} within {START_TIMEOUT_S:.0f} s")


def stop_server(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def create_account(paths: FerryPaths) -> tuple[str, str]:
    """A local user with a random password (the device token is what is kept; the password is not needed
    again)."""
    user = getpass.getuser() or "me"
    password = secrets.token_urlsafe(24)
    result = subprocess.run([*server_command(), "user", "add", user, "--password-stdin", "--data",
                             str(cloud_dir(paths))], input=password.encode(), capture_output=True)
    if result.returncode != 0:
        raise RuntimeError(f"could not create the local account: {result.stderr.decode(errors='replace')}")
    return user, password
