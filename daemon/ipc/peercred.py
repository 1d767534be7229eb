"""Who is on the other end of a Unix socket: the kernel's word, not the client's.

File permissions (0700 dir, 0600 socket) already keep other users out; the uid check is the second wall, for
when someone loosens those permissions or the runtime dir sits somewhere shared.
"""

from __future__ import annotations

import socket
import struct
import sys

# Linux: struct ucred {pid_t pid; uid_t uid; gid_t gid;}
_UCRED = struct.Struct("3i")
# macOS/BSD: struct xucred {u_int cr_version; uid_t cr_uid; short cr_ngroups; gid_t cr_groups[16];}
_XUCRED_SIZE = 4 + 4 + 2 + 2 + 16 * 4
_SOL_LOCAL = 0
_LOCAL_PEERCRED = 0x001


def peer_pid(sock: socket.socket) -> int | None:
    """The pid of the process connected to `sock` (Linux), or None: the server's per-process connection cap."""
    so_peercred = getattr(socket, "SO_PEERCRED", None)
    if so_peercred is None or sock.family != socket.AF_UNIX:
        return None
    pid, _uid, _gid = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, so_peercred, _UCRED.size))
    return int(pid) or None


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process connected to `sock`, or None where this platform offers no way to ask."""
    so_peercred = getattr(socket, "SO_PEERCRED", None)
    if so_peercred is not None:
        raw = sock.getsockopt(socket.SOL_SOCKET, so_peercred, _UCRED.size)
        _pid, uid, _gid = _UCRED.unpack(raw)
        return int(uid)
    if sys.platform == "darwin" or sys.platform.startswith("freebsd"):
        level = getattr(socket, "SOL_LOCAL", _SOL_LOCAL)
        option = getattr(socket, "LOCAL_PEERCRED", _LOCAL_PEERCRED)
        raw = sock.getsockopt(level, option, _XUCRED_SIZE)
        _version, uid = struct.unpack_from("=II", raw)
        return int(uid)
    return None
