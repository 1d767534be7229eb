"""A real ControlServer with in-memory handlers that follow docs/ipc.md: the daemon as CLI and tray see it.

Test support shared by tests/daemon/test_ipc_*.py and test_cli.py; it holds no tests itself.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ferrysync.daemon.ipc.protocol import SETTINGS, IpcError, check_setting
from ferrysync.daemon.ipc.server import ControlServer
from ferrysync.daemon.lock import DaemonLock
from ferrysync.daemon.paths import FerryPaths, ferry_paths

BASE_STATUS: dict[str, Any] = {
    "state": "idle",
    "message": "Up to date",
    "pending_up": {"count": 0, "bytes": 0},
    "pending_down": {"count": 0, "bytes": 0},
    "transfers": [],
    "speed_up": 0.0,
    "speed_down": 0.0,
    "conflicts": 0,
    "errors": 0,
    "name_issues": 0,
    "deletions_pending": 0,
    "retry_in": None,
    "folders": [{"id": "f1", "local": "/home/u/Docs", "remote": "/Docs", "state": "idle", "message": "Up to date"}],
    "last_sync": None,
    "account": {"bytes": 1_500_000, "files": 12},
    "server": "http://127.0.0.1:1",
    "paused": False,
    "daemon_version": "0.1.0",
}


class FakeDaemon:
    def __init__(self, home: Path, transport: str | None = None, hold_lock: bool = False, **server_kw: Any) -> None:
        self.paths: FerryPaths = ferry_paths({"FERRY_HOME": str(home)})
        self.daemon_lock = DaemonLock(self.paths.lock_file) if hold_lock else None
        self.status: dict[str, Any] = copy.deepcopy(BASE_STATUS)
        # the declared defaults of what the channel carries (none copied here), on a host called "laptop"
        self.settings: dict[str, Any] = {name: s.default_value() for name, s in SETTINGS.items()}
        self.settings["conflict_host_name"] = "laptop"
        self.folders = [dict(f) for f in self.status["folders"]]
        self.wait = {"synced": True, "caught_up": True}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        handlers: dict[str, Callable[[dict[str, Any]], Mapping[str, Any]]] = {
            name[2:]: self._recorded(name[2:], getattr(self, name)) for name in dir(self) if name.startswith("h_")
        }
        self.server = ControlServer(self.paths, handlers, self.current_status, transport=transport, **server_kw)

    def start(self) -> FakeDaemon:
        if self.daemon_lock is not None:
            self.daemon_lock.acquire()
        self.server.start()
        return self

    def stop(self) -> None:
        """What ferryd does last: close the control channel, then let go of the lock (process exit)."""
        self.server.stop()
        if self.daemon_lock is not None:
            self.daemon_lock.release()

    def current_status(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.status)

    def set_status(self, **changes: Any) -> None:
        with self.lock:
            self.status.update(changes)
        self.server.publish("status")

    def methods_called(self) -> list[str]:
        return [m for m, _ in self.calls]

    def _recorded(
        self, name: str, fn: Callable[[dict[str, Any]], Mapping[str, Any]]
    ) -> Callable[[dict[str, Any]], Mapping[str, Any]]:
        def handler(params: dict[str, Any]) -> Mapping[str, Any]:
            self.calls.append((name, params))
            return fn(params)

        return handler

    # --- the contract's methods -------------------------------------------------------------------------

    def h_pause(self, p: dict[str, Any]) -> dict[str, Any]:
        self.set_status(paused=True, state="paused", message="Paused")
        return {"paused": True}

    def h_resume(self, p: dict[str, Any]) -> dict[str, Any]:
        self.set_status(paused=False, state="idle", message="Up to date")
        return {"paused": False}

    def h_folders(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"folders": self.folders}

    def h_folder_add(self, p: dict[str, Any]) -> dict[str, Any]:
        folder = {
            "id": f"f{len(self.folders) + 1}",
            "local": p["local"],
            "remote": p.get("remote") or "/" + Path(p["local"]).name,
            "state": "idle",
            "message": "Scanning",
        }
        self.folders.append(folder)
        return {"folder": folder}

    def h_folder_remove(self, p: dict[str, Any]) -> dict[str, Any]:
        before = len(self.folders)
        self.folders = [f for f in self.folders if f["id"] != p["id"]]
        if len(self.folders) == before:
            raise IpcError("not_found", f"no folder with id {p['id']}")
        return {}

    def h_ui_url(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"url": "http://127.0.0.1:9/prefix/login?ticket=once"}

    def h_settings_get(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"settings": dict(self.settings)}

    def h_settings_set(self, p: dict[str, Any]) -> dict[str, Any]:
        self.settings[p["key"]] = check_setting(p["key"], p["value"])
        return {"settings": dict(self.settings)}

    def h_conflicts(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "conflicts": [
                {
                    "folder_id": "f1",
                    "path": "a (conflicted copy from pc 2026-11-26 142501).txt",
                    "original": "a.txt",
                    "time": time.time() - 120,
                }
            ]
        }

    def h_activity(self, p: dict[str, Any]) -> dict[str, Any]:
        items = [
            {
                "time": time.time() - i,
                "folder_id": "f1",
                "path": f"file{i}.txt",
                "direction": "up",
                "action": "upload",
                "size": 1000 * i,
            }
            for i in range(100)
        ]
        return {"activity": items[: p.get("limit", 50)]}

    def h_errors(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "errors": [
                {
                    "folder_id": "f1",
                    "path": "locked.db",
                    "message": "Permission denied",
                    "retry_at": time.time() + 60,
                    "attempts": 3,
                }
            ]
        }

    def h_name_issues(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"entries": [{"folder_id": "f1", "path": "CON.txt", "reason": "reserved name on Windows"}]}

    def h_deletions(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"pending": [{"folder_id": "f1", "path": "old/x.txt", "side": "remote"}]}

    def h_deletions_approve(self, p: dict[str, Any]) -> dict[str, Any]:
        return {}

    def h_deletions_reject(self, p: dict[str, Any]) -> dict[str, Any]:
        return {}

    def h_versions(self, p: dict[str, Any]) -> dict[str, Any]:
        if not p["path"].endswith("report.txt"):
            raise IpcError("not_found", f"{p['path']} is not in a synced folder")
        return {
            "revisions": [
                {"rev": 7, "time": time.time() - 60, "size": 2048, "device": "laptop"},
                {"rev": 5, "time": time.time() - 7200, "size": 1024, "device": "desktop"},
            ]
        }

    def h_restore(self, p: dict[str, Any]) -> dict[str, Any]:
        return {}

    def h_trash_list(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"entries": [{"folder_id": "f1", "path": "gone.txt", "trashed_at": time.time() - 30, "where": "server"}]}

    def h_trash_restore(self, p: dict[str, Any]) -> dict[str, Any]:
        return {}

    def h_wait_status(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return dict(self.wait)

    def h_stop(self, p: dict[str, Any]) -> dict[str, Any]:
        threading.Thread(target=self.stop, daemon=True).start()  # answer first, then go away
        return {}
