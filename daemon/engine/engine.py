"""The engine: one server connection, the sync folders, pause/resume, live settings and the status object.

It knows nothing of sockets: the control channel calls `handlers()` (see daemon/control/) and `status()`, and
the engine pushes status changes through `publish`.

Threads: each folder's state belongs to its loop thread (see folder.py). What the engine itself holds that other
threads read — the folder table, the config, the account — is replaced whole, never changed in place, so a
reader takes one reference and works on a snapshot.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ferrysync.daemon import __version__, threads
from ferrysync.daemon.config import Config, ConfigError, FolderConfig, Settings, load_config, save_config
from ferrysync.daemon.credentials import CredentialsError, open_store
from ferrysync.daemon.engine import e2ee
from ferrysync.daemon.engine.context import FolderContext
from ferrysync.daemon.engine.folder import FolderSync
from ferrysync.daemon.engine.progress import TransferTracker
from ferrysync.daemon.engine.renewal import TokenRenewer
from ferrysync.daemon.journal import Journal
from ferrysync.daemon.local.hasher import HashPool
from ferrysync.daemon.local.marker import ID_FILE, marker_dir
from ferrysync.daemon.local.ondisk import disk_path
from ferrysync.daemon.paths import FerryPaths
from ferrysync.daemon.remote import RemoteClient, RemoteError
from ferrysync.daemon.remote.cursor import behind
from ferrysync.daemon.remote.feed import request_relist
from ferrysync.daemon.remote.mapping import normalize_prefix
from ferrysync.daemon.transfer import Downloader, TokenBucket, Uploader

log = logging.getLogger(__name__)

ACCOUNT_REFRESH_S = 60.0  # the account's use read again at rest (another device may have changed it)
ACCOUNT_BUSY_S = 5.0  # at most this often while syncing: the server sums every live file for it
ACCOUNT_SETTLED_S = 1.0  # once every folder is idle after a sync: read again at once, but not more often than this
JOURNAL_PROBE_S = 2.0  # while the journal's disk refuses writes: how often the status loop tries one small write
LOGIN_KEY = "login"  # journal meta: the login the trees were built under
REFUSED_RECHECK_S = 2.0  # how often refused feeds may look for newer credentials (config and keyring)


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
        self.folders: Mapping[str, FolderSync] = MappingProxyType({})  # replaced whole (copy on write)
        self.paused = False
        self.account: dict[str, float] | None = None  # bytes, files, read_at (wall clock)
        self.publish: Callable[[str, Any], None] = lambda event, data: None
        self.stop_requested = threading.Event()
        self._config_lock = threading.Lock()
        self._folders_lock = threading.RLock()  # writers of the folder table (add/remove); readers take a reference
        self._stop = threading.Event()
        self._changed = threading.Event()
        self._status_thread: threading.Thread | None = None
        self._token = token
        self._login_lock = threading.Lock()
        self._refused_at = 0.0
        self.renewer = TokenRenewer(self.client, self._install_renewed_token)
        journal.when_writable_again(self._journal_writable)

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._note_login()
        for folder in self.config.folders:
            try:
                self._start_folder(folder)
            except e2ee.EncryptionSetupError as exc:
                log.error("%s: not started: %s", folder.id, exc)
        self._status_thread = threads.start(self._status_loop, "ferry-status")

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop and join every engine thread; True when none can touch the journal any more (the caller closes
        it only then: a thread writing into a closed journal would lose what it was recording)."""
        self._stop.set()
        self._changed.set()
        deadline = time.monotonic() + timeout
        joined = True
        for f in self.folders.values():
            joined = f.stop(max(1.0, deadline - time.monotonic())) and joined
        if self._status_thread is not None:
            self._status_thread.join(max(1.0, deadline - time.monotonic()))
            joined = joined and not self._status_thread.is_alive()
        self.pool.close()
        self.client.close()
        return joined

    def settings(self) -> Settings:
        return self.config.settings

    def _find_block(self, block_hash: str) -> tuple[str, int, int] | None:
        loc = self.journal.find_block(block_hash)
        sync = None if loc is None else self.folders.get(loc.folder_id)
        if loc is None or sync is None:
            return None
        root = sync.root
        return str(disk_path(root, loc.path)), loc.offset, loc.length

    def _folder_transfers(self, folder: FolderConfig) -> tuple[RemoteClient, Uploader, Downloader]:
        """The client, uploader and downloader a folder uses: the shared ones, or for an encrypted folder ones
        that encrypt at the seam (remote/encrypted.py). Raises EncryptionSetupError when its key is missing."""
        if not folder.encrypted:
            return self.client, self.uploader, self.downloader
        store = open_store(self.config.settings.credentials_store, self.paths)
        keys = e2ee.load_keys(store, self.config.server_url, folder.id)
        if keys is None:
            raise e2ee.EncryptionSetupError(f"the key of the encrypted folder {folder.local} is not in this "
                                            "device's keyring: remove the folder and add it again with its "
                                            "passphrase")
        client = e2ee.folder_client(self.client, keys, normalize_prefix(folder.remote), self.paths.state_dir,
                                    folder.id)
        return (client, Uploader(client, throttle=self.up_limit), Downloader(client, throttle=self.down_limit))

    def _start_folder(self, folder: FolderConfig) -> FolderSync:
        client, uploader, downloader = self._folder_transfers(folder)
        ctx = FolderContext(journal=self.journal, folder_id=folder.id, root=Path(folder.local),
                            prefix=normalize_prefix(folder.remote), client=client, uploader=uploader,
                            downloader=downloader, cancel=threading.Event(), find_block=self._find_block,
                            tracker=self.tracker)
        sync = FolderSync(folder, ctx, self.pool, self.settings, self.changed, self._notify)
        sync.feed.on_refused = self.credentials_refused
        sync.persist = lambda change: self.update_folder(folder.id, change)
        if self.paused or folder.paused:
            ctx.cancel.set()
        with self._folders_lock:
            self.folders = MappingProxyType({**self.folders, folder.id: sync})
        sync.start()
        return sync

    def changed(self) -> None:
        self._changed.set()

    # -- credentials -----------------------------------------------------------------------------------------

    def _note_login(self) -> None:
        """At start: if the login changed while the daemon was not running, list every folder's server again."""
        current = _login_fingerprint(self.config.server_url, self.config.user, self._token)
        before = self.journal.get_meta(LOGIN_KEY)
        if before is not None and before != current:
            replaced = before.rsplit(" ", 1)[0] != current.rsplit(" ", 1)[0]  # another URL or account
            log.info("this device logged in again since the last run%s: listing the server again",
                     " to another server or account" if replaced else "")
            for folder in self.config.folders:
                request_relist(self.journal, folder.id, replaced=replaced)
        if before != current:
            self.journal.set_meta(LOGIN_KEY, current)

    def reload_credentials(self) -> dict[str, Any]:
        """Take up what `ferry login` stored (server URL, account, token, TLS trust) without a restart.

        Every folder then lists the server again before following its feed: as a server that was replaced
        when the URL or the account changed, and otherwise deciding from the listing whether it is still the
        server the folder synced with (see FeedReader.relist). Nothing is deleted locally on the way."""
        with self._login_lock:
            fresh = load_config(self.paths)
            if not fresh.server_url or not fresh.user:
                raise ValueError("this device is not logged in: run `ferry login URL --user NAME`")
            token = open_store(fresh.settings.credentials_store, self.paths).get_token(fresh.user, fresh.server_url)
            if not token:
                raise ValueError(f"no device token for {fresh.user} on {fresh.server_url}: run `ferry login`")
            old = self.config
            replaced = (fresh.server_url.rstrip("/"), fresh.user) != (old.server_url.rstrip("/"), old.user)
            changed = replaced or token != self._token
            s = dataclasses.replace(old.settings, credentials_store=fresh.settings.credentials_store,
                                    tls_ca_file=fresh.settings.tls_ca_file,
                                    tls_pin_sha256=fresh.settings.tls_pin_sha256)
            trust = (s.tls_ca_file, s.tls_pin_sha256) != (old.settings.tls_ca_file, old.settings.tls_pin_sha256)
            with self._config_lock:
                self.config = dataclasses.replace(old, server_url=fresh.server_url, user=fresh.user,
                                                  device_name=fresh.device_name, settings=s)
            if changed or trust:
                self.client.reconfigure(fresh.server_url, token, verify=s.tls_ca_file or True,
                                        pin_sha256=s.tls_pin_sha256)
            self._token = token
            if changed:
                log.info("new login: %s on %s%s", fresh.user, fresh.server_url,
                         " (another server or account: it gets what this device holds)" if replaced else "")
                for f in self.folders.values():
                    f.server_changed(replaced=replaced)
                self.journal.set_meta(LOGIN_KEY, _login_fingerprint(fresh.server_url, fresh.user, token))
            self.account = None
        self.changed()
        return {"server": fresh.server_url, "user": fresh.user, "changed": changed, "replaced": replaced}

    def _install_renewed_token(self, old: str, new: str) -> bool:
        """Store a renewed token where `ferry login` keeps it, then use it (same device: nothing is listed again).
        False when the login changed since the renewal was asked for."""
        with self._login_lock:
            if self._token != old:
                return False
            cfg = self.config
            open_store(cfg.settings.credentials_store, self.paths).set_token(cfg.user, cfg.server_url, new)
            self.client.token = new
            self._token = new
            self.journal.set_meta(LOGIN_KEY, _login_fingerprint(cfg.server_url, cfg.user, new))
        return True

    def credentials_refused(self) -> bool:
        """The server refused our token: take up newer credentials if `ferry login` stored some meanwhile."""
        now = time.monotonic()
        if now - self._refused_at < REFUSED_RECHECK_S:
            return False
        self._refused_at = now
        try:
            result = self.reload_credentials()
        except (ValueError, CredentialsError, ConfigError) as exc:
            log.debug("refused, and no newer credentials: %s", exc)
            return False
        return bool(result["changed"])

    def _status_loop(self) -> None:
        read_at = -ACCOUNT_REFRESH_S
        seen_sync: float | None = None
        last_error = ""
        probed_at = -JOURNAL_PROBE_S
        while not self._stop.is_set():
            self._changed.wait(1.0)
            self._changed.clear()
            if self._stop.is_set():
                break
            try:
                last_sync = max((f.view.last_sync or 0.0 for f in self.folders.values()), default=0.0)
                now = time.monotonic()
                if self.journal.write_trouble is not None and now - probed_at >= JOURNAL_PROBE_S:
                    probed_at = now
                    self.journal.probe_writes()
                synced_since = last_sync != seen_sync
                if _account_due(now - read_at, synced_since, synced_since and self.synced()):
                    read_at, seen_sync = now, last_sync
                    self._refresh_account()
                self.renewer.tick()
                if self.journal.needs_rebuild and self.folders and self.synced():
                    log.info("journal rebuilt from the disk and the server")
                    self.journal.clear_rebuild()
                self.publish("status", self.status())
                last_error = ""
            except Exception as exc:  # tried again within a second; said once, not every second
                if repr(exc) != last_error:
                    log.exception("publishing status failed")
                last_error = repr(exc)

    def _journal_writable(self) -> None:
        """The journal's disk takes writes again: every folder's threads go on now, not at their next retry."""
        for f in self.folders.values():
            f.journal_writable()
        self.changed()

    def _refresh_account(self) -> None:
        try:
            read_at = time.time()
            a = self.client.account()
            self.account = {"bytes": a.bytes, "files": a.files, "read_at": read_at}
        except (RemoteError, OSError):
            pass

    # -- commands --------------------------------------------------------------------------------------------

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        for f in self.folders.values():
            f.set_paused(paused or f.cfg.paused)
        self.changed()

    def set_folder_paused(self, folder_id: str, paused: bool) -> FolderSync:
        """Pause or resume one folder (kept in config.toml: it stays paused over a restart); the others go on."""
        with self._folders_lock:
            sync = self.folders.get(folder_id)
            if sync is None:
                raise KeyError(folder_id)
            cfg = dataclasses.replace(sync.cfg, paused=paused)
            self._save(dataclasses.replace(self.config, folders=tuple(
                cfg if f.id == folder_id else f for f in self.config.folders)))
            sync.cfg = cfg  # replaced whole: the status reads one reference
        sync.set_paused(self.paused or paused)
        self.changed()
        return sync

    def update_folder(self, folder_id: str, change: Callable[[FolderConfig], FolderConfig]) -> FolderConfig:
        """Apply `change` to one folder's config and save it (read, change and write under one lock, so the
        control channel and the folder's loop, which both change exclusions, never lose each other's change)."""
        with self._folders_lock:
            sync = self.folders.get(folder_id)
            if sync is None:
                raise KeyError(folder_id)
            cfg = change(sync.cfg)
            self._save(dataclasses.replace(self.config, folders=tuple(
                cfg if f.id == folder_id else f for f in self.config.folders)))
            sync.cfg = cfg  # replaced whole: readers take one reference
        self.changed()
        return cfg

    def _save(self, config: Config) -> None:
        with self._config_lock:
            save_config(self.paths, config)
            self.config = config

    def add_folder(self, local: str, remote: str | None, *, excluded: tuple[str, ...] = (),
                   auto_include_new: bool = True, encrypted: bool = False, passphrase: str | None = None,
                   recovery_key: str | None = None) -> FolderSync:
        """Sync a new folder (see `add_folder_keyed`)."""
        return self.add_folder_keyed(local, remote, excluded=excluded, auto_include_new=auto_include_new,
                                     encrypted=encrypted, passphrase=passphrase, recovery_key=recovery_key)[0]

    def add_folder_keyed(self, local: str, remote: str | None, *, excluded: tuple[str, ...] = (),
                         auto_include_new: bool = True, encrypted: bool = False, passphrase: str | None = None,
                         recovery_key: str | None = None) -> tuple[FolderSync, str | None]:
        """Sync a new folder. `excluded` paths are saved with it, before its first merge: what this disk holds
        there is merged (uploaded), never removed, and what the server holds there is not downloaded.

        `encrypted`: create the encrypted folder on the server (with `passphrase`), or join it (its passphrase or
        `recovery_key`); a wrong one raises WrongPassphrase before anything is written. The new folder's recovery
        key, when one was made, is returned beside the folder (to show once; it is stored nowhere)."""
        root = Path(local).expanduser().resolve()
        if root.exists() and not root.is_dir():
            raise ValueError(f"{root} is not a folder")
        recovery: str | None = None
        with self._folders_lock:  # two adds at once must not both pass the overlap check
            config, folder = self.config.with_new_folder(root, remote)
            folder = dataclasses.replace(folder, excluded=excluded, auto_include_new=auto_include_new,
                                         encrypted=encrypted)
            if encrypted:
                keys, recovery = e2ee.open_folder(self.client, normalize_prefix(folder.remote),
                                                  passphrase=passphrase, recovery_key=recovery_key)
                store = open_store(config.settings.credentials_store, self.paths)
                e2ee.save_keys(store, config.server_url, folder.id, keys)
            elif e2ee.is_encrypted_on_server(self.client, normalize_prefix(folder.remote)):
                raise e2ee.EncryptionSetupError(f"/{folder.remote} on the server is an encrypted folder: add it "
                                                "with --encrypted and its passphrase")
            config = config.with_folder(folder)
            self._save(config)
            return self._start_folder(folder), recovery

    def change_passphrase(self, folder_id: str, old: str, new: str) -> None:
        """Re-wrap an encrypted folder's key under a new passphrase (`old`: the current one or the recovery key)."""
        sync = self.folders.get(folder_id)
        if sync is None or not sync.cfg.encrypted:
            raise ValueError("not an encrypted folder")
        keys = e2ee.load_keys(open_store(self.config.settings.credentials_store, self.paths),
                              self.config.server_url, folder_id)
        if keys is None:
            raise e2ee.EncryptionSetupError("this device does not hold the folder's key")
        e2ee.change_passphrase(self.client, normalize_prefix(sync.cfg.remote), keys, old=old, new=new)

    def remove_folder(self, folder_id: str) -> None:
        with self._folders_lock:
            sync = self.folders.get(folder_id)
            if sync is None:
                raise KeyError(folder_id)
            self.folders = MappingProxyType({k: v for k, v in self.folders.items() if k != folder_id})
        if not sync.stop():
            raise RuntimeError(f"the folder {sync.root} did not stop in time; try again")
        self.journal.forget_folder(folder_id)  # its rows, and its records in meta (relist, swaps, commit notes)
        (marker_dir(sync.root) / ID_FILE).unlink(missing_ok=True)  # the files and the folder trash stay
        if sync.cfg.encrypted:
            e2ee.forget_folder(sync.ctx.client, self.paths.state_dir, folder_id)
            try:
                e2ee.forget_keys(open_store(self.config.settings.credentials_store, self.paths),
                                 self.config.server_url, folder_id)
            except Exception as exc:  # noqa: BLE001 - a keyring that cannot delete keeps a key, loses no data
                log.warning("%s: the folder key stays in the keyring: %s", folder_id, exc)
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
                if page.entries or behind(page.cursor, cursor):  # behind, or the server went back in time
                    return False
            except (RemoteError, OSError):
                return False
        return True

    def synced(self) -> bool:
        return all(f.idle() for f in self.folders.values())

    def failure(self) -> str | None:
        """Why the engine itself (not one folder) stopped working although nobody stopped it, or None."""
        if self._stop.is_set():
            return None
        reason = threads.death(self._status_thread)
        return None if reason is None else f"the status thread stopped ({reason}); see the log, then restart Ferry"

    # -- status ----------------------------------------------------------------------------------------------

    def _folder_state(self, f: FolderSync) -> tuple[str, str]:
        failed = f.failure()
        if failed is not None:
            return "error", f"Ferry stopped syncing this folder: {failed}; see the log, then restart Ferry"
        trouble = self.journal.write_trouble  # one journal for every folder: each of them waits on it
        if trouble is not None:
            return "error", trouble.message(self.journal.path)
        obs = f.observer.status
        if f.error or obs.error is not None:
            return "error", f.error or obs.message or "the sync folder is unavailable"
        if f.feed.state.error:
            return "error", f.feed.state.error
        if f.server_storage_full and not (self.paused or f.cfg.paused):
            return "error", ("The server cannot store files right now (its disk is full or failing): nothing is "
                             "lost; Ferry sends them once it can")
        if self.paused or f.cfg.paused:
            return "paused", "Paused"
        if not f.feed.state.online:
            retry = f.feed.state.retry_at
            if retry is None:
                return "offline", "Connecting…"
            return "offline", f"Offline — retrying in {max(0, round(retry - time.time()))} s"
        if not f.idle():
            return "syncing", "Syncing"
        held = len(f.view.held)
        if held:
            return "idle", f"{held} deletions wait for your approval"
        return "idle", obs.message or "Up to date"

    def status(self) -> dict[str, Any]:
        folders = []
        states = []
        up_n = up_b = down_n = down_b = 0
        retry_in: float | None = None
        syncs = list(self.folders.values())
        views = [f.view for f in syncs]  # one snapshot per folder for the whole answer
        trouble = self.journal.write_trouble
        for f, view in zip(syncs, views, strict=True):
            state, message = self._folder_state(f)
            states.append(state)
            folders.append({"id": f.fid, "local": str(f.root), "remote": "/" + f.cfg.remote.strip("/"), "state": state,
                            "message": message, "paused": f.cfg.paused, "refused": f.refused[-20:],
                            **({"excluded": list(f.cfg.excluded), "kept": f.kept_count()} if f.cfg.excluded else {}),
                            **({"encrypted": True} if f.cfg.encrypted else {})})
            up_n += view.pending_up[0]
            up_b += view.pending_up[1]
            down_n += view.pending_down[0]
            down_b += view.pending_down[1]
            if f.feed.state.retry_at is not None:
                wait = max(0.0, f.feed.state.retry_at - time.time())
                retry_in = wait if retry_in is None else min(retry_in, wait)
        state = next((s for s in ("error", "offline", "paused", "syncing") if s in states), "idle")
        if self.paused:
            state = "paused"
        broken = self.failure()
        if broken is not None:
            state = "error"
        speed_up, speed_down = self.tracker.speed("up"), self.tracker.speed("down")
        conflicts = sum(len(f.conflict_copies()) for f in syncs)
        held = sum(len(v.held) for v in views)
        kept = sum(len(f.name_issues()) for f in syncs)
        errors = len(self.journal.list_failures())
        last = [v.last_sync for v in views if v.last_sync is not None]
        return {
            "state": state,
            "message": broken or _message(state, folders, up_n + down_n, speed_up + speed_down, retry_in, held),
            "pending_up": {"count": up_n, "bytes": up_b},
            "pending_down": {"count": down_n, "bytes": down_b},
            "transfers": self.tracker.running(),
            "speed_up": speed_up,
            "speed_down": speed_down,
            "conflicts": conflicts,
            "errors": errors,
            "refused": sum(len(f.refused) for f in syncs),  # changes a read-only shared folder refused
            "name_issues": kept,
            "deletions_pending": held,
            "retry_in": retry_in,
            "folders": folders,
            "last_sync": max(last) if last else None,
            "account": self.account,
            "journal_refused": None if trouble is None else {"detail": trouble.detail, "since": trouble.since},
            "server": self.config.server_url,
            "paused": self.paused,
            "daemon_version": __version__,
        }


def _account_due(age: float, synced_since: bool, settled: bool) -> bool:
    """Whether the status loop reads the account's use again, `age` seconds after it last did: at rest every
    ACCOUNT_REFRESH_S; after a sync within ACCOUNT_BUSY_S, and at once when that sync left every folder idle, so the
    line beside "Up to date" counts what was just synced."""
    if age >= ACCOUNT_REFRESH_S:
        return True
    if not synced_since:
        return False
    return age >= (ACCOUNT_SETTLED_S if settled else ACCOUNT_BUSY_S)


def _login_fingerprint(server_url: str, user: str, token: str) -> str:
    """Which login the journal's trees came from: URL and account in clear, the token only as a short hash."""
    digest = hashlib.sha256(token.encode()).hexdigest()[:16]
    return f"{server_url.rstrip('/')} {user} {digest}"


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
