"""A stand-in for ferryd that speaks the documented control protocol (briefs/ipc-contract.md) on the real
socket path of a FERRY_HOME, so the tray can be tested for real before (and beside) the real daemon.

It keeps a status object in memory, applies the methods the tray uses (pause, resume, settings, folders,
deletions, stop…), streams status events to subscribers at every change, and records every request it gets.
Two test-only methods steer it: `_test_set {"status": {...}, "conflicts": [...], ...}` merges state and
broadcasts; `_test_calls {}` returns the recorded requests.

Run as a process: `python fake_daemon.py` (uses FERRY_HOME) — tests kill and restart it like a real daemon.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ferrysync.daemon.ipc.protocol import SETTINGS, check_setting
from ferrysync.daemon.paths import ferry_paths

MAX_LINE = 1 << 20

# What settings_get answers and settings_set accepts is declared once (daemon/settings_schema.py): the fake serves
# the declared defaults and checks with the declaration, so it cannot drift from the real daemon.
SETTINGS_DEFAULTS: dict[str, Any] = {
    **{name: s.default_value() for name, s in SETTINGS.items()}, "conflict_host_name": "test-host",
}


def base_status() -> dict[str, Any]:
    return {
        "state": "idle", "message": "Up to date", "pending_up": {"count": 0, "bytes": 0},
        "pending_down": {"count": 0, "bytes": 0}, "transfers": [], "speed_up": 0.0, "speed_down": 0.0,
        "conflicts": 0, "errors": 0, "name_issues": 0, "deletions_pending": 0, "retry_in": None, "folders": [],
        "last_sync": time.time(), "account": {"bytes": 0, "files": 0}, "server": "http://127.0.0.1:1",
        "paused": False, "daemon_version": "fake-1",
    }


class Failure(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class FakeDaemon:
    def __init__(self, socket_path: Path, log_file: Path | None = None) -> None:
        self.socket_path = socket_path
        self.log_file = log_file
        self.lock = threading.Lock()
        self.status = base_status()
        self.settings = dict(SETTINGS_DEFAULTS)
        self.lists: dict[str, list[dict[str, Any]]] = {"conflicts": [], "activity": [], "deletions": []}
        self.calls: list[dict[str, Any]] = []
        self.subscribers: list[socket.socket] = []
        self.stopped = threading.Event()
        self._server: socketserver.ThreadingUnixStreamServer | None = None
        self._listening = threading.Event()

    # --- state ---

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.status)

    def change(self, **fields: Any) -> None:
        with self.lock:
            self.status.update(fields)
        self.broadcast()

    def broadcast(self) -> None:
        line = json.dumps({"v": 1, "event": "status", "data": self.snapshot()}).encode() + b"\n"
        with self.lock:
            subs = list(self.subscribers)
        for s in subs:
            try:
                s.sendall(line)
            except OSError:
                with self.lock:
                    if s in self.subscribers:
                        self.subscribers.remove(s)

    # --- methods ---

    def handle(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.calls.append({"method": method, "params": copy.deepcopy(params)})
        fn = getattr(self, "m_" + method, None)
        if fn is None:
            raise Failure("unknown_method", f"unknown method {method!r}")
        result: dict[str, Any] = fn(params)
        return result

    def m_hello(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"daemon_version": "fake-1", "protocol": 1, "pid": os.getpid()}

    def m_status(self, p: dict[str, Any]) -> dict[str, Any]:
        return self.snapshot()

    def m_pause(self, p: dict[str, Any]) -> dict[str, Any]:
        self.change(state="paused", message="Paused", paused=True)
        return {"paused": True}

    def m_resume(self, p: dict[str, Any]) -> dict[str, Any]:
        self.change(state="idle", message="Up to date", paused=False)
        return {"paused": False}

    def m_folders(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"folders": self.snapshot()["folders"]}

    def m_folder_add(self, p: dict[str, Any]) -> dict[str, Any]:
        local = p.get("local")
        if not isinstance(local, str) or not local:
            raise Failure("bad_request", "local must be a non-empty string")
        if not Path(local).is_dir():
            raise Failure("failed", f"{local} is not a folder")
        with self.lock:
            folder = {"id": f"f{len(self.status['folders']) + 1}", "local": local,
                      "remote": p.get("remote") or "/" + Path(local).name, "state": "idle", "message": "Up to date"}
            self.status["folders"] = [*self.status["folders"], folder]
        self.broadcast()
        return {"folder": folder}

    def m_folder_remove(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            before = self.status["folders"]
            self.status["folders"] = [f for f in before if f["id"] != p.get("id")]
            found = len(before) != len(self.status["folders"])
        if not found:
            raise Failure("not_found", f"no folder {p.get('id')!r}")
        self.broadcast()
        return {}

    def m_settings_get(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return {"settings": dict(self.settings)}

    def m_settings_set(self, p: dict[str, Any]) -> dict[str, Any]:
        key = str(p.get("key"))
        try:
            value = check_setting(key, p.get("value"))
        except ValueError as exc:
            raise Failure("bad_request", str(exc)) from None
        with self.lock:
            self.settings[key] = value
            return {"settings": dict(self.settings)}

    def m_conflicts(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return {"conflicts": copy.deepcopy(self.lists["conflicts"])}

    def m_activity(self, p: dict[str, Any]) -> dict[str, Any]:
        limit = p.get("limit", 50)
        with self.lock:
            return {"activity": copy.deepcopy(self.lists["activity"][:limit])}

    def m_deletions(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return {"pending": copy.deepcopy(self.lists["deletions"])}

    def _settle_deletions(self, p: dict[str, Any]) -> dict[str, Any]:
        fid = p.get("folder_id")
        with self.lock:
            left = [d for d in self.lists["deletions"] if fid is not None and d["folder_id"] != fid]
            self.lists["deletions"] = left
            self.status["deletions_pending"] = len(left)
        self.broadcast()
        return {}

    m_deletions_approve = _settle_deletions
    m_deletions_reject = _settle_deletions

    def m_ui_url(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            n = sum(1 for c in self.calls if c["method"] == "ui_url")
        return {"url": f"http://127.0.0.1:1/fake/login?ticket=fake-ticket-{n}"}

    def m_stop(self, p: dict[str, Any]) -> dict[str, Any]:
        threading.Thread(target=self.shutdown, daemon=True).start()
        return {}

    def m__test_set(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.status.update(p.get("status") or {})
            for key in self.lists:
                if key in p:
                    self.lists[key] = list(p[key])
            self.settings.update(p.get("settings") or {})
        self.broadcast()
        return {}

    def m__test_calls(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return {"calls": copy.deepcopy(self.calls)}

    # --- transport ---

    def serve(self) -> None:
        daemon = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                daemon.serve_connection(self.connection, self.rfile)

        self.socket_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.socket_path.exists():
            self.socket_path.unlink()
        server = socketserver.ThreadingUnixStreamServer(str(self.socket_path), Handler)
        server.daemon_threads = True
        os.chmod(self.socket_path, 0o600)
        self._server = server
        self._listening.set()
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            with self.log_file.open("a") as f:
                f.write(f"fake daemon {os.getpid()} listening on {self.socket_path}\n")
        server.serve_forever(poll_interval=0.05)

    def serve_connection(self, conn: socket.socket, rfile: Any) -> None:
        try:
            while True:
                line = rfile.readline(MAX_LINE + 1)
                if not line:
                    return
                if len(line) > MAX_LINE:
                    self._send(conn, None, error=("too_large", "line over 1 MiB"))
                    return
                self._one(conn, line)
        except OSError:
            pass
        finally:
            with self.lock:
                if conn in self.subscribers:
                    self.subscribers.remove(conn)

    def _one(self, conn: socket.socket, line: bytes) -> None:
        try:
            req = json.loads(line)
            if not isinstance(req, dict) or not isinstance(req.get("method"), str):
                raise ValueError("not a request object")
        except ValueError as exc:
            self._send(conn, None, error=("bad_request", str(exc)))
            return
        rid, method = req.get("id"), req["method"]
        raw = req.get("params")
        params: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if method == "subscribe":
            self._send(conn, rid, result={})
            conn.sendall(json.dumps({"v": 1, "event": "status", "data": self.snapshot()}).encode() + b"\n")
            with self.lock:
                self.subscribers.append(conn)
            return
        try:
            result = self.handle(method, params)
        except Failure as exc:
            self._send(conn, rid, error=(exc.code, str(exc)))
            return
        self._send(conn, rid, result=result)

    @staticmethod
    def _send(conn: socket.socket, rid: Any, result: dict[str, Any] | None = None,
              error: tuple[str, str] | None = None) -> None:
        msg: dict[str, Any] = {"v": 1, "id": rid, "ok": error is None}
        if error is None:
            msg["result"] = result
        else:
            msg["error"] = {"code": error[0], "message": error[1]}
        conn.sendall(json.dumps(msg).encode() + b"\n")

    def start_in_thread(self) -> threading.Thread:
        t = threading.Thread(target=self.serve, name="fake-ferryd", daemon=True)
        t.start()
        self._listening.wait(5)
        return t

    def shutdown(self) -> None:
        self._listening.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.lock:
            subs, self.subscribers = list(self.subscribers), []
        for s in subs:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        if self.socket_path.exists():
            self.socket_path.unlink()
        self.stopped.set()


def main() -> int:
    paths = ferry_paths().ensure()
    daemon = FakeDaemon(paths.socket_path, paths.log_file)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=daemon.shutdown, daemon=True).start())
    daemon.serve()
    daemon.stopped.wait(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
