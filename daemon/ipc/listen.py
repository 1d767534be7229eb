"""Opening the control channel's listening socket safely, and only when no other daemon answers there.

The runtime dir must be a real directory owned by us (it may sit under a shared /tmp), mode 0700. The Unix
socket is created under a restrictive umask so it is 0600 from its first instant. A socket file nobody answers
on is a crashed daemon's leftover and is replaced; one that answers belongs to a live daemon: left alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import stat
from pathlib import Path

from ferrysync.daemon.ipc.transport import write_secret_file

log = logging.getLogger(__name__)

BACKLOG = 64


class DaemonAlreadyRunning(RuntimeError):
    """Another daemon answers on this FERRY_HOME's control socket."""


def prepare_runtime_dir(d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = os.lstat(d)
    if not stat.S_ISDIR(st.st_mode):
        raise PermissionError(f"{d} is not a directory (a symlink?); refusing to put the socket there")
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        raise PermissionError(f"{d} belongs to uid {st.st_uid}, not to you; refusing to use it")
    if os.name == "posix":
        os.chmod(d, 0o700)


def listen_unix(path: Path) -> tuple[socket.socket, int]:
    """A listening socket at `path` and its inode (so that we later remove only our own socket file)."""
    if os.path.lexists(path):
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(2.0)
        try:
            probe.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            log.info("removing stale control socket %s", path)
            path.unlink(missing_ok=True)
        except TimeoutError:
            raise DaemonAlreadyRunning(f"something holds {path} but does not answer; not replacing it") from None
        else:
            raise DaemonAlreadyRunning(f"a Ferry daemon already answers on {path}")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # the socket is born 0600: no window where others could connect
    try:
        sock.bind(str(path))
        os.chmod(path, 0o600)
        inode = os.stat(path).st_ino
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    finally:
        os.umask(old_umask)
    return sock, inode


def listen_tcp(secret_file: Path, secret: str) -> socket.socket:
    """Loopback TCP on a free port, announced with the secret in a user-only file (the Windows transport)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(BACKLOG)
        write_secret_file(secret_file, sock.getsockname()[1], secret)
    except BaseException:
        sock.close()
        raise
    return sock


def remove_socket_if_ours(path: Path, inode: int) -> None:
    """Unlink the socket file unless a newer daemon has replaced it since."""
    with contextlib.suppress(OSError):
        if os.stat(path).st_ino == inode:
            path.unlink()
