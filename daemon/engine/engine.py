"""The engine: one server connection, the sync folders, pause/resume, live settings and the status object.

It knows nothing of sockets: the control channel calls `handlers()` (see control.py) and `status()`, and the
engine pushes status changes through `publish`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ferrysync.daemon import __version__
from ferrysync.daemon.config import Config, FolderConfig, Settings, save_config
from ferrysync.daemon.engine.executor import FolderContext
from ferrysync.daemon.engine.folder import FolderSync
from ferrysync.daemon.engine.mapping import normalize_prefix
from ferrysync.daemon.engine.progress import TransferTracker
from ferrysync.daemon.hasher import HashPool
from ferrysync.daemon.journal import Journal
from ferrysync.daemon.marker import ID_FILE, marker_dir
from ferrysync.daemon.paths import FerryPaths
from ferrysync.daemon.remote import RemoteClient, RemoteError
from ferrysync.daemon.transfer import Downloader, TokenBucket, Uploader

log = logging.getLogger(__name__)

ACCOUNT_REFRESH_S = 60.0


class Engine:
    def __init__(self, paths: FerryPaths, config: Config, journal: Journal, token: str,
                 notify: Callable[[str, str, str], None] = lambda title, body, kind: None) -> None:
        self.paths = paths
        self.config = config
        self.journal = journal
        self._notify = notify
        s = config.settings
        self.client = RemoteClient(config.server_url, token, verify=s.tls_ca_file or True, pin_sha256=s.tls_pin_sha256,
                                   pool_size=16)
        self.up_limit = TokenBucket(s.upload_limit_kbps * 1024)
        self.down_limit = TokenBucket(s.download_limit_kbps * 1024)
        self.uploader = Uploader(self.client, throttle=self.up_limit)
        self.downloader = Downloader(self.client, throttle=self.down_limit)
        self.pool = HashPool()
        self.tracker = TransferTracker(on_change=self.changed)
        self.folders: dict[str, FolderSync] = {}
        self.paused = False
        self.account: dict[str, int] | None = None
        self.publish: Callable[[str, Any], None] = lambda event, data: None
        self.stop_requested = threading.Event()
        self._config_lock = threading.Lock()
        self._stop = threading.Event()
        self._changed = threading.Event()
        self._status_thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        for folder in self.config.folders:
            self._start_folder(folder)
        self._status_thread = threading.Thread(target=self._status_loop, name="ferry-status", daemon=True)
        self._status_thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._changed.set()
        for f in list(self.folders.values()):
            f.stop()
        self.pool.close()
        self.client.close()

    def settings(self) -> Settings:
        return self.config.settings

    def _find_block(self, block_hash: str) -> tuple[str, int, int] | None:
        loc = self.journal.find_block(block_hash)
        if loc is None or loc.folder_id not in self.folders:
            return None
        root = self.folders[loc.folder_id].root
        return str(root.joinpath(*loc.path.split("/"))), loc.offset, loc.length

    def _start_folder(self, folder: FolderConfig) -> FolderSync:
        ctx = FolderContext(journal=self.journal, folder_id=folder.id, root=Path(folder.local),
                            prefix=normalize_prefix(folder.remote), client=self.client, uploader=self.uploader,
                            downloader=self.downloader, cancel=threading.Event(), find_block=self._find_block,
                            tracker=self.tracker)
        sync = FolderSync(folder, ctx, self.pool, self.settings, self.changed, self._notify)
        if self.paused or folder.paused:
            ctx.cancel.set()
        self.folders[folder.id] = sync
        sync.start()
        return sync

    def changed(self) -> None:
        self._changed.set()

    def _status_loop(self) -> None:
        next_account = 0.0
        seen_sync: float | None = None
        while not self._stop.is_set():
            self._changed.wait(1.0)
            self._changed.clear()
            last_sync = max((f.view.last_sync or 0.0 for f in self.folders.values()), default=0.0)
            now = time.monotonic()
            if now >= next_account or (last_sync != seen_sync and now >= next_account - ACCOUNT_REFRESH_S + 5):
                next_account, seen_sync = now + ACCOUNT_REFRESH_S, last_sync
                self._refresh_account()
            if self.journal.needs_rebuild and self.folders and self.synced():
                log.info("journal rebuilt from the disk and the server")
                self.journal.clear_rebuild()
            try:
                self.publish("status", self.status())
            except Exception:
                log.exception("publishing status failed")

    def _refresh_account(self) -> None:
        try:
            a = self.client.account()
            self.account = {"bytes": a.bytes, "files": a.files}
        except (RemoteError, OSError):
            pass

    # -- commands --------------------------------------------------------------------------------------------

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        for f in self.folders.values():
            f.set_paused(paused or f.cfg.paused)
        self.changed()

    def _save(self, config: Config) -> None:
        with self._config_lock:
            save_config(self.paths, config)
            self.config = config

    def add_folder(self, local: str, remote: str | None) -> FolderSync:
        root = Path(local).expanduser().resolve()
        for f in self.folders.values():
            if root == f.root or root.is_relative_to(f.root) or f.root.is_relative_to(root):
                raise ValueError(f"{root} overlaps the synced folder {f.root}")
        if root.exists() and not root.is_dir():
            raise ValueError(f"{root} is not a folder")
        remote_path = remote if remote is not None else "/" + root.name
        folder = FolderConfig(id=uuid.uuid4().hex[:12], local=root, remote=remote_path)
        self._save(self.config.with_folder(folder))
        return self._start_folder(folder)

    def remove_folder(self, folder_id: str) -> None:
        sync = self.folders.pop(folder_id, None)
        if sync is None:
            raise KeyError(folder_id)
        sync.stop()
        self.journal.forget_folder(folder_id)
        (marker_dir(sync.root) / ID_FILE).unlink(missing_ok=True)  # the files and the folder trash stay
        self._save(self.config.without_folder(folder_id))
        self.changed()

    def update_settings(self, **changes: Any) -> Settings:
        settings = dataclasses.replace(self.config.settings, **changes)
        self._save(dataclasses.replace(self.config, settings=settings))
        if "name_rules" in changes:
            for f in self.folders.values():
                f.refresh_profile()
        self.up_limit.set_rate(settings.upload_limit_kbps * 1024)
        self.down_limit.set_rate(settings.download_limit_kbps * 1024)
        self.changed()
        return settings

    def caught_up(self) -> bool:
        """Every folder has applied the server's feed up to now (asked of the server, not assumed)."""
        for f in self.folders.values():
            if not f.feed.state.caught_up:
                return False
            try:
                cursor = self.journal.get_cursor(f.fid)
                page = self.client.changes(cursor, limit=1)
                if page.entries or page.cursor < cursor:  # behind, or the server went back in time
                    return False
            except (RemoteError, OSError):
                return False
        return True

    def synced(self) -> bool:
        return all(f.idle() for f in self.folders.values())

    # -- status ----------------------------------------------------------------------------------------------

    def _folder_state(self, f: FolderSync) -> tuple[str, str]:
        obs = f.observer.status
        if f.error or obs.error is not None:
            return "error", f.error or obs.message or "the sync folder is unavailable"
        if f.feed.state.error:
            return "error", f.feed.state.error
        if self.paused or f.cfg.paused:
            return "paused", "Paused"
        if not f.feed.state.online:
            retry = f.feed.state.retry_at
            if retry is None:
                return "offline", "Connecting…"
            return "offline", f"Offline — retrying in {max(0, round(retry - time.time()))} s"
        if not f.idle():
            return "syncing", "Syncing"
        if f.view.held:
            return "idle", f"{len(f.view.held)} deletions wait for your approval"
        return "idle", obs.message or "Up to date"

    def status(self) -> dict[str, Any]:
        folders = []
        states = []
        up_n = up_b = down_n = down_b = 0
        retry_in: float | None = None
        for f in self.folders.values():
            state, message = self._folder_state(f)
            states.append(state)
            folders.append({"id": f.fid, "local": str(f.root), "remote": f.cfg.remote or "/", "state": state,
                            "message": message})
            up_n += f.view.pending_up[0]
            up_b += f.view.pending_up[1]
            down_n += f.view.pending_down[0]
            down_b += f.view.pending_down[1]
            if f.feed.state.retry_at is not None:
                wait = max(0.0, f.feed.state.retry_at - time.time())
                retry_in = wait if retry_in is None else min(retry_in, wait)
        state = next((s for s in ("error", "offline", "paused", "syncing") if s in states), "idle")
        if self.paused:
            state = "paused"
        speed_up, speed_down = self.tracker.speed("up"), self.tracker.speed("down")
        conflicts = sum(len(f.conflict_copies()) for f in self.folders.values())
        held = sum(len(f.view.held) for f in self.folders.values())
        kept = sum(len(f.view.kept_out) for f in self.folders.values())
        errors = len(self.journal.list_failures())
        last = [f.view.last_sync for f in self.folders.values() if f.view.last_sync is not None]
        return {
            "state": state,
            "message": _message(state, folders, up_n + down_n, speed_up + speed_down, retry_in, held),
            "pending_up": {"count": up_n, "bytes": up_b},
            "pending_down": {"count": down_n, "bytes": down_b},
            "transfers": self.tracker.running(),
            "speed_up": speed_up,
            "speed_down": speed_down,
            "conflicts": conflicts,
            "errors": errors,
            "name_issues": kept,
            "deletions_pending": held,
            "retry_in": retry_in,
            "folders": folders,
            "last_sync": max(last) if last else None,
            "account": self.account,
            "server": self.config.server_url,
            "paused": self.paused,
            "daemon_version": __version__,
        }


def _message(state: str, folders: list[dict[str, Any]], pending: int, speed: float, retry_in: float | None,
             held: int) -> str:
    if state == "paused":
        return "Paused"
    if state == "offline":
        return f"Offline — retrying in {round(retry_in)} s" if retry_in is not None else "Offline"
    if state == "error":
        return next((f["message"] for f in folders if f["state"] == "error"), "Error")
    if state == "syncing":
        text = f"Syncing {pending} files" if pending else "Syncing"
        return f"{text} — {_rate(speed)}" if speed > 0 else text
    if held:
        return f"{held} deletions wait for your approval"
    if not folders:
        return "No folders: add one with `ferry folder add`"
    return "Up to date"


def _rate(bps: float) -> str:
    for unit in ("B/s", "KB/s", "MB/s", "GB/s"):
        if bps < 1000 or unit == "GB/s":
            return f"{bps:.1f} {unit}" if unit != "B/s" else f"{bps:.0f} {unit}"
        bps /= 1000
    return f"{bps:.1f} GB/s"
