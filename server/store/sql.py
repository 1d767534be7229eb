"""SqlMetaStore: the MetaStore protocol on SQLAlchemy Core (SQLite by default; portable SQL only)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Select, and_, case, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from ferrysync.server.store import accounts, blockmarks, browse, feed, gc, logins, routing, shares, sharing
from ferrysync.server.store.base import (
    ChangePage,
    Device,
    Entry,
    Op,
    OpResult,
    PruneReport,
    Revision,
    Usage,
    User,
    WebSession,
)
from ferrysync.server.store.blockmarks import BlockRaced
from ferrysync.server.store.bulk import execute_many
from ferrysync.server.store.cursor import Cursor, decode
from ferrysync.server.store.engine import WriteGate, make_engine
from ferrysync.server.store.logins import LoginLock
from ferrysync.server.store.rows import device_from_row, new_id, now_ms
from ferrysync.server.store.schema import (
    ROOT,
    devices,
    entries,
    mounts,
    namespaces,
    ns_blocks,
    revisions,
    share_links,
    users,
    web_sessions,
)
from ferrysync.server.store.shares import ShareLink
from ferrysync.server.store.sharing import Member, MountInfo
from ferrysync.server.store.views import load_view, root_namespace

_IN_CHUNK = 500
_TOUCH_EVERY_MS = 60_000
_MARK_WAIT_S = 30.0


class UserExists(Exception):
    pass


class SqlMetaStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._gate = WriteGate(engine)
        self._hold_stmt: dict[str, Any] = {}

    @classmethod
    def from_url(cls, url: str) -> SqlMetaStore:
        return cls(make_engine(url))

    def close(self) -> None:
        self.engine.dispose()

    # -- users ---------------------------------------------------------------------------------------------
    def add_user(self, name: str, password_hash: str) -> User:
        created = now_ms()
        try:
            with self._gate.hold(), self.engine.begin() as conn:
                uid = conn.execute(insert(users).values(name=name, password_hash=password_hash,
                                                        created_at=created)).inserted_primary_key
                assert uid is not None
                conn.execute(insert(namespaces).values(owner_id=uid[0], kind=ROOT, seq=0, pruned_seq=0,
                                                       created_at=created))
        except IntegrityError:
            raise UserExists(name) from None
        assert uid is not None
        return User(id=int(uid[0]), name=name, created_at=created)

    def get_user(self, name: str) -> tuple[User, str] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first()
        if row is None:
            return None
        return accounts.user_from_row(row), str(row.password_hash)

    def list_users(self) -> list[User]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(users).order_by(users.c.name)).all()
        return [accounts.user_from_row(r) for r in rows]

    def user_by_id(self, user_id: int) -> User | None:
        with self.engine.connect() as conn:
            return accounts.user_by_id(conn, user_id)

    def set_password(self, name: str, password_hash: str) -> bool:
        """Change the password and sign the user's browsers out (their devices keep their tokens)."""
        with self._gate.hold(), self.engine.begin() as conn:
            uid = conn.execute(select(users.c.id).where(users.c.name == name)).scalar()
            if uid is None:
                return False
            accounts.set_user_field(conn, name, password_hash=password_hash)
            accounts.end_sessions(conn, int(uid), None, now_ms())
        return True

    def set_quota(self, name: str, quota_bytes: int | None) -> bool:
        with self._gate.hold(), self.engine.begin() as conn:
            return accounts.set_user_field(conn, name, quota_bytes=quota_bytes)

    def set_admin(self, name: str, admin: bool) -> bool:
        with self._gate.hold(), self.engine.begin() as conn:
            return accounts.set_user_field(conn, name, is_admin=admin)

    # -- web sessions --------------------------------------------------------------------------------------
    def add_session(self, user_id: int, token_hash: str, expires_at: int) -> None:
        with self._gate.hold(), self.engine.begin() as conn:
            accounts.add_session(conn, user_id, token_hash, now_ms(), expires_at)

    def session(self, token_hash: str, now: int) -> WebSession | None:
        with self.engine.connect() as conn:
            return accounts.session(conn, token_hash, now)

    def touch_session(self, session: WebSession, expires_at: int) -> None:
        """Slide the session's expiry, at most once a minute (a write per page view would contend with commits)."""
        now = now_ms()
        if now - session.last_seen < _TOUCH_EVERY_MS:
            return
        with self._gate.hold(), self.engine.begin() as conn:
            accounts.touch_session(conn, session.token_hash, now, expires_at)

    def end_session(self, token_hash: str) -> None:
        with self._gate.hold(), self.engine.begin() as conn:
            accounts.end_session(conn, token_hash)

    def end_sessions(self, user_id: int, keep: str | None = None) -> int:
        with self._gate.hold(), self.engine.begin() as conn:
            return accounts.end_sessions(conn, user_id, keep, now_ms())

    def prune_sessions(self) -> int:
        with self._gate.hold(), self.engine.begin() as conn:
            return accounts.prune_sessions(conn, now_ms())

    def remove_user(self, name: str) -> bool:
        """Delete the user and all their rows (devices, mounts, the namespaces they own with their trees, revisions
        and block holdings; members of folders they shared lose those folders)."""
        with self._gate.hold(), self.engine.begin() as conn:
            uid = conn.execute(select(users.c.id).where(users.c.name == name)).scalar()
            if uid is None:
                return False
            sharing.revoke_all(conn, int(uid), now_ms())  # members' devices see the folders leave
            owned = select(namespaces.c.id).where(namespaces.c.owner_id == uid)
            for table in (entries, revisions, ns_blocks):
                conn.execute(delete(table).where(table.c.ns_id.in_(owned)))
            conn.execute(delete(mounts).where(mounts.c.ns_id.in_(owned) | (mounts.c.user_id == uid)))
            conn.execute(delete(namespaces).where(namespaces.c.owner_id == uid))
            for table in (devices, share_links, web_sessions):
                conn.execute(delete(table).where(table.c.user_id == uid))
            conn.execute(delete(users).where(users.c.id == uid))
        return True

    # -- devices -------------------------------------------------------------------------------------------
    def add_device(self, user_id: int, name: str, token_hash: str) -> Device:
        device_id, created = new_id(), now_ms()
        with self._gate.hold(), self.engine.begin() as conn:
            conn.execute(insert(devices).values(id=device_id, user_id=user_id, name=name, token_hash=token_hash,
                                                created_at=created, last_seen=created, token_issued_at=created))
            user_name = conn.execute(select(users.c.name).where(users.c.id == user_id)).scalar_one()
        return Device(id=device_id, user_id=user_id, user_name=user_name, name=name, created_at=created,
                      last_seen=created, token_hash=token_hash, token_issued_at=created)

    def _device_query(self) -> Select[Any]:
        return select(devices.c.id, devices.c.user_id, devices.c.name, devices.c.created_at,
                      devices.c.last_seen, devices.c.token_hash, devices.c.token_issued_at,
                      devices.c.prev_token_hash, users.c.name.label("user_name")).join(
            users, users.c.id == devices.c.user_id).where(devices.c.revoked_at.is_(None))

    def device_by_token(self, token_hash: str) -> Device | None:
        """The active device whose token, or whose renewed token still in its grace period, has this hash."""
        previous = and_(devices.c.prev_token_hash == token_hash, devices.c.prev_token_until > now_ms())
        with self.engine.connect() as conn:
            row = conn.execute(self._device_query().where(or_(devices.c.token_hash == token_hash, previous))).first()
        return device_from_row(row, token_hash) if row is not None else None

    def renew_token(self, device_id: str, used_hash: str, new_hash: str, grace_until: int) -> int | None:
        """Give the device a new token; the one it renewed with keeps working until `grace_until` (a renewal made
        with the previous token, whose answer was lost, keeps the earlier grace: it never extends). Returns the
        new token's issue time, or None when the device was revoked or the token replaced meanwhile."""
        now = now_ms()
        by_current = devices.c.token_hash == used_hash
        with self._gate.hold(), self.engine.begin() as conn:
            done = conn.execute(update(devices).where(and_(
                devices.c.id == device_id, devices.c.revoked_at.is_(None),
                or_(by_current, and_(devices.c.prev_token_hash == used_hash, devices.c.prev_token_until > now))),
            ).values(prev_token_hash=case((by_current, devices.c.token_hash), else_=devices.c.prev_token_hash),
                     prev_token_until=case((by_current, grace_until), else_=devices.c.prev_token_until),
                     token_hash=new_hash, token_issued_at=now)).rowcount
        return now if done else None

    # -- the login throttle --------------------------------------------------------------------------------
    def login_locked_until(self, keys: Sequence[str]) -> int:
        with self.engine.connect() as conn:
            return logins.locked_until(conn, keys)

    def login_failed(self, key: str, now: int, forget_before: int, delay_ms: Callable[[int], int]) -> int:
        with self._gate.hold(), self.engine.begin() as conn:
            return logins.record_failure(conn, key, now, forget_before, delay_ms)

    def clear_login_failures(self, keys: Sequence[str]) -> int:
        with self._gate.hold(), self.engine.begin() as conn:
            return logins.clear(conn, keys)

    def login_locks(self) -> list[LoginLock]:
        with self.engine.connect() as conn:
            return logins.listing(conn)

    def prune_login_failures(self, forget_before: int) -> int:
        with self._gate.hold(), self.engine.begin() as conn:
            return logins.prune(conn, forget_before)

    def touch_device(self, device: Device) -> None:
        """Record activity, at most once a minute per device (a write per request would contend with commits)."""
        now = now_ms()
        if device.last_seen is not None and now - device.last_seen < _TOUCH_EVERY_MS:
            return
        with self._gate.hold(), self.engine.begin() as conn:
            conn.execute(update(devices).where(devices.c.id == device.id).values(last_seen=now))

    def list_devices(self, user_id: int) -> list[Device]:
        with self.engine.connect() as conn:
            rows = conn.execute(self._device_query().where(devices.c.user_id == user_id)
                                .order_by(devices.c.created_at)).all()
        return [device_from_row(r) for r in rows]

    def revoke_device(self, device_id: str, user_id: int | None = None) -> bool:
        cond = and_(devices.c.id == device_id, devices.c.revoked_at.is_(None))
        if user_id is not None:
            cond = and_(cond, devices.c.user_id == user_id)
        with self._gate.hold(), self.engine.begin() as conn:
            return bool(conn.execute(update(devices).where(cond).values(revoked_at=now_ms())).rowcount)

    # -- blocks held per namespace -------------------------------------------------------------------------
    # A user's uploads are recorded in their root namespace; a user may download (and need not upload) a block
    # any namespace they see holds.
    def _visible_namespaces(self, conn: Connection, user_id: int) -> list[int]:
        view = load_view(conn, user_id)
        return [view.root_ns, *(m.ns_id for m in view.mounts)]

    def missing_blocks(self, user_id: int, hashes: Sequence[str]) -> list[str]:
        held = self.user_block_sizes(user_id, hashes)  # one lookup for the whole list, not one per hash
        return [h for h in dict.fromkeys(hashes) if h not in held]

    def mark_uploading(self, hashes: Sequence[str]) -> None:
        """Announce blocks about to be written (see blockmarks.py); waits while a collector deletes one of them."""
        deadline = time.monotonic() + _MARK_WAIT_S
        while True:
            with self._gate.hold(), self.engine.begin() as conn:
                busy = blockmarks.mark_uploading(conn, hashes, now_ms())
            if not busy:
                return
            if time.monotonic() > deadline:
                raise BlockRaced(f"{len(busy)} block(s) are being garbage-collected; upload them again later")
            time.sleep(0.05)

    def add_user_blocks(self, user_id: int, blocks: Sequence[tuple[str, int]]) -> None:
        """Record that the user holds these blocks, stored and verified after `mark_uploading`; one transaction.

        A block held already gets a fresh `created_at` (its grace period starts over). Raises BlockRaced (nothing
        recorded) if a garbage collection took over one of them meanwhile.
        """
        sizes = dict(blocks)
        if not sizes:
            return
        now = now_ms()
        with self._gate.hold(), self.engine.begin() as conn:
            root = root_namespace(conn, user_id)
            rows = [{"ns_id": root, "hash": h, "size": sizes[h], "created_at": now} for h in sorted(sizes)]
            blockmarks.confirm_uploaded(conn, list(sizes), now)
            stmt = self._hold_stmt.get(conn.dialect.name)
            if stmt is None:  # built once, run with one parameter set per row (no compiling per batch)
                ins = blockmarks.upsert(conn, ns_blocks)
                stmt = ins.on_conflict_do_update(index_elements=["ns_id", "hash"],
                                                 set_={"created_at": ins.excluded.created_at})
                self._hold_stmt[conn.dialect.name] = stmt
            for i in range(0, len(rows), _IN_CHUNK):
                execute_many(conn, stmt, rows[i:i + _IN_CHUNK])

    def blocks_held(self, hashes: Sequence[str]) -> set[str]:
        """Which of these blocks any user holds (garbage collection keeps those)."""
        with self.engine.connect() as conn:
            return gc.blocks_held(conn, hashes)

    def drop_unreferenced_blocks(self, cutoff_ms: int) -> int:
        """Drop unused holdings recorded before the cutoff: one short transaction per namespace."""
        with self.engine.connect() as conn:
            holders = gc.holding_owners(conn, cutoff_ms)
        dropped = 0
        for ns_id in holders:
            with self._gate.hold(), self.engine.begin() as conn:
                dropped += gc.drop_unreferenced_user_blocks(conn, ns_id, cutoff_ms)
        return dropped

    def claim_unheld_blocks(self, candidates: Sequence[str], grace_cutoff_ms: int) -> list[str]:
        """Take delete marks on candidates nobody holds and no recent upload protects (see blockmarks.py)."""
        with self._gate.hold(), self.engine.begin() as conn:
            return blockmarks.claim_for_deletion(conn, candidates, grace_cutoff_ms, now_ms())

    def release_block_claims(self, hashes: Sequence[str]) -> None:
        with self._gate.hold(), self.engine.begin() as conn:
            blockmarks.release(conn, hashes)

    def expire_block_marks(self, grace_cutoff_ms: int) -> int:
        with self._gate.hold(), self.engine.begin() as conn:
            return blockmarks.expire(conn, grace_cutoff_ms, now_ms())

    def preview_collectable(self, hashes: Sequence[str], retention_cutoff_ms: int,
                            grace_cutoff_ms: int) -> tuple[PruneReport, list[str]]:
        """What a collection would remove, computed by doing it in a transaction that is rolled back."""
        with self._gate.hold(), self.engine.connect() as conn, conn.begin() as txn:
            report = feed.prune(conn, retention_cutoff_ms)
            holdings = sum(gc.drop_unreferenced_user_blocks(conn, u, grace_cutoff_ms)
                           for u in gc.holding_owners(conn, grace_cutoff_ms))
            held = gc.blocks_held(conn, hashes)
            spared = blockmarks.protected(conn, hashes, grace_cutoff_ms, now_ms())
            txn.rollback()
        report = PruneReport(revisions=report.revisions, tombstones=report.tombstones, users=report.users,
                             block_holdings=holdings)
        return report, [h for h in dict.fromkeys(hashes) if h not in held and h not in spared]

    def user_has_block(self, user_id: int, digest: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(ns_blocks.c.hash).where(and_(
                ns_blocks.c.ns_id.in_(self._visible_namespaces(conn, user_id)), ns_blocks.c.hash == digest))
            ).first() is not None

    def user_block_sizes(self, user_id: int, hashes: Sequence[str]) -> dict[str, int]:
        """The sizes of those of `hashes` the user may read (the others are absent from the answer)."""
        wanted = list(dict.fromkeys(hashes))
        sizes: dict[str, int] = {}
        with self.engine.connect() as conn:
            visible = self._visible_namespaces(conn, user_id)
            for i in range(0, len(wanted), _IN_CHUNK):
                rows = conn.execute(select(ns_blocks.c.hash, ns_blocks.c.size).where(and_(
                    ns_blocks.c.ns_id.in_(visible), ns_blocks.c.hash.in_(wanted[i:i + _IN_CHUNK]))))
                sizes.update((str(h), int(n)) for h, n in rows)
        return sizes

    # -- tree (a user's paths, routed to their namespaces: routing.py) --------------------------------------
    def commit(self, user_id: int, device_name: str, ops: Sequence[Op]) -> tuple[list[OpResult], dict[int, int]]:
        """Apply ops in order in one transaction; each succeeds or fails alone. Returns the results and each
        changed namespace's new seq (what to announce to waiting long-polls)."""
        with self._gate.hold(), self.engine.begin() as conn:
            return routing.commit(conn, user_id, device_name, ops, now_ms())

    def restore(self, user_id: int, device_name: str, path: str, rev: int) -> tuple[Entry, dict[int, int]]:
        with self._gate.hold(), self.engine.begin() as conn:
            return routing.restore(conn, user_id, device_name, path, rev, now_ms())

    def feed_position(self, user_id: int) -> tuple[Cursor, dict[int, int]]:
        """The user's feed position now, and which namespace each of its positions follows (see routing)."""
        with self.engine.connect() as conn:
            return routing.position(conn, user_id)

    def current_seq(self, user_id: int) -> int | str:
        """The cursor at the end of the user's feed now."""
        return self.feed_position(user_id)[0].encode()

    # The user's live tree with their mounts (browse.py): what the web app and share links read.
    def entry(self, user_id: int, path: str) -> Entry | None:
        with self.engine.connect() as conn:
            return browse.entry(conn, user_id, path)

    def children(self, user_id: int, folder: str) -> list[Entry]:
        with self.engine.connect() as conn:
            return browse.children(conn, user_id, folder)

    def live_below(self, user_id: int, path: str) -> list[Entry]:
        with self.engine.connect() as conn:
            return browse.live_below(conn, user_id, path)

    def changes(self, user_id: int, cursor: int | str | Cursor, limit: int) -> ChangePage:
        """Raises cursor.BadCursor for a malformed cursor, CursorExpired for one that cannot be continued."""
        parsed = cursor if isinstance(cursor, Cursor) else decode(str(cursor))
        with self.engine.connect() as conn:
            return routing.changes(conn, user_id, parsed, limit)

    def revisions(self, user_id: int, path: str) -> list[Revision]:
        with self.engine.connect() as conn:
            return routing.revisions(conn, user_id, path)

    def deleted(self, user_id: int, prefix: str | None, since_ms: int) -> list[Entry]:
        with self.engine.connect() as conn:
            return routing.deleted(conn, user_id, prefix, since_ms)

    def quota_use(self, user_id: int) -> tuple[int | None, int]:
        with self.engine.connect() as conn:
            return feed.quota_use(conn, user_id)

    def usage(self, user_id: int) -> Usage:
        """What the user is charged for: the namespaces they own, shared folders included (feed.usage)."""
        with self.engine.connect() as conn:
            return feed.usage(conn, user_id)

    def prune(self, cutoff_ms: int) -> PruneReport:
        with self._gate.hold(), self.engine.begin() as conn:
            return feed.prune(conn, cutoff_ms)

    # -- share links (store/shares.py) ---------------------------------------------------------------------
    def live_entry(self, user_id: int, path: str) -> Entry | None:
        with self.engine.connect() as conn:
            return browse.entry(conn, user_id, path)

    def live_subtree(self, user_id: int, root: str) -> list[Entry]:
        with self.engine.connect() as conn:
            return browse.live_below(conn, user_id, root)

    def create_share(self, user_id: int, target: Entry, token_hash: str, password_hash: str | None,
                     grant_key: str, expires_at: int | None, created_by: str | None) -> ShareLink:
        """A new link to `target` (a live entry of this user), known by the hash of its token only."""
        values = {"id": new_id(), "user_id": user_id, "token_hash": token_hash, "file_id": target.file_id,
                  "path": target.path, "kind": target.kind, "password_hash": password_hash,
                  "grant_key": grant_key, "created_at": now_ms(), "created_by": created_by,
                  "expires_at": expires_at}
        with self._gate.hold(), self.engine.begin() as conn:
            return shares.create(conn, values)

    def list_shares(self, user_id: int) -> list[ShareLink]:
        with self.engine.connect() as conn:
            return shares.listing(conn, user_id)

    def revoke_share(self, user_id: int, share_id: str) -> bool:
        with self._gate.hold(), self.engine.begin() as conn:
            return shares.revoke(conn, user_id, share_id, now_ms())

    def share_by_token(self, token_hash: str) -> tuple[ShareLink, Entry | None] | None:
        with self.engine.connect() as conn:
            return shares.by_token(conn, token_hash)

    def count_share_download(self, share_id: str) -> None:
        with self._gate.hold(), self.engine.begin() as conn:
            shares.count_download(conn, share_id, now_ms())

    def share_hit(self, key: str, window_start: int) -> int:
        with self._gate.hold(), self.engine.begin() as conn:
            return shares.hit(conn, key, window_start)

    def prune_share_hits(self, before: int) -> int:
        with self._gate.hold(), self.engine.begin() as conn:
            return shares.prune_hits(conn, before)

    # -- folders shared between users (sharing.py) ---------------------------------------------------------
    def share_folder(self, owner_id: int, device_name: str, path: str, member: str,
                     role: str) -> tuple[Member, dict[int, int]]:
        with self._gate.hold(), self.engine.begin() as conn:
            return sharing.share(conn, owner_id, device_name, path, member, role, now_ms())

    def set_member_role(self, owner_id: int, path: str, member: str, role: str) -> Member:
        with self._gate.hold(), self.engine.begin() as conn:
            return sharing.set_role(conn, owner_id, path, member, role)

    def unshare_folder(self, user_id: int, device_name: str, path: str, member: str | None) -> dict[int, int]:
        with self._gate.hold(), self.engine.begin() as conn:
            return sharing.unshare(conn, user_id, device_name, path, member, now_ms())

    def folder_members(self, user_id: int, path: str) -> list[Member]:
        with self.engine.connect() as conn:
            return sharing.members(conn, user_id, path)

    def mounts(self, user_id: int) -> list[MountInfo]:
        with self.engine.connect() as conn:
            return sharing.list_mounts(conn, user_id)
