"""What the web app does to a user's files, each through the same store calls and rules as the API: paths are
checked by `validate_path`, changes are commits of the API's ops (so revisions, the change feed, conflicts and
quotas behave exactly as for a device), blocks are verified and recorded by the block routes' own functions.

Nothing here writes SQL: listing and reading use the store's read calls, every change is `MetaStore.commit` or
`MetaStore.restore`, followed by the notifier's wake-up so devices' long-polls return at once.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import AsyncIterable, Iterator
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from ferrysync.server.context import AppContext
from ferrysync.server.errors import ApiError
from ferrysync.server.hashing import block_hash
from ferrysync.server.paths import PathError, ancestors, validate_path
from ferrysync.server.routes.blocks import read_block, record_blocks, store_verified
from ferrysync.server.store.base import DeleteOp, Entry, MkdirOp, MoveOp, Op, OpFail, OpOk, PutOp, RestoreError
from ferrysync.server.web.chunking import StreamCutter
from ferrysync.server.web.encrypted import KEY_FILE, encrypted_root

WEB_DEVICE = "web browser"  # what `modified_by` says of changes made here
_FLUSH_BYTES = 8 * 1024 * 1024
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold


class ActionFailed(Exception):
    """An action the user asked for was refused; `message` is shown on the page as it is."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def checked(path: str) -> str:
    """A path from a URL or a form, checked by the API's rules ("" is the root)."""
    path = path.strip("/")
    if not path:
        return ""
    try:
        return validate_path(path)
    except PathError as exc:
        raise ActionFailed(f"Not a valid path: {exc}") from None


def join(folder: str, name: str) -> str:
    if not name or "/" in name:
        raise ActionFailed("A name may not be empty or hold a slash.")
    return checked(f"{folder}/{name}" if folder else name)


def parent(path: str) -> str:
    return path.rpartition("/")[0]


def name_of(path: str) -> str:
    return path.rpartition("/")[2]


def breadcrumbs(path: str) -> list[tuple[str, str]]:
    """(name, path) of each folder from the root down to `path`."""
    return [(name_of(p), p) for p in [*ancestors(path), path]] if path else []


def need(ctx: AppContext, user_id: int, path: str) -> Entry:
    """The live entry at `path`; 404 when this user has none (another user's paths are simply not there)."""
    entry = ctx.meta.entry(user_id, path) if path else None
    if entry is None:
        raise ActionFailed("No such file or folder.", 404)
    return entry


def children(ctx: AppContext, user_id: int, folder: str) -> list[Entry]:
    """The live entries directly inside `folder`, folders first, then by name."""
    if folder and need(ctx, user_id, folder).kind != "dir":
        raise ActionFailed("Not a folder.", 404)
    inside = ctx.meta.children(user_id, folder)
    return sorted(inside, key=lambda e: (e.kind != "dir", e.path.casefold()))


def _commit(ctx: AppContext, user_id: int, ops: list[Op]) -> list[OpOk | OpFail]:
    results, seqs = ctx.meta.commit(user_id, WEB_DEVICE, ops)
    for ns_id, seq in seqs.items():  # each changed namespace: its members' devices wake, not only this user's
        ctx.notifier.publish(ns_id, seq)
    return results


def _one(ctx: AppContext, user_id: int, op: Op) -> Entry:
    result = _commit(ctx, user_id, [op])[0]
    if isinstance(result, OpFail):
        raise ActionFailed(describe(result), {"quota_exceeded": 507, "read_only": 403}.get(result.code, 409))
    return result.entry


def describe(fail: OpFail) -> str:
    if fail.code == "quota_exceeded":
        return f"Your storage is full: {fail.message}."
    if fail.code == "conflict":
        return f"Not done: {fail.message} (if it changed meanwhile on a device, reload and try again)."
    return fail.message


def refuse_writing_into(ctx: AppContext, user_id: int, folder: str, what: str) -> None:
    """Refuse a web action that would commit a plain name into an end-to-end encrypted folder (`folder` is where it
    writes): the devices could not decrypt it (web/encrypted.py)."""
    root = encrypted_root(ctx, user_id, folder)
    if root is not None:
        raise ActionFailed(f"{root} is an end-to-end encrypted folder: the server holds only ciphertext, so {what} "
                           "can only be done on a desktop that syncs it.", 409)


def mkdir(ctx: AppContext, user_id: int, folder: str, name: str) -> Entry:
    refuse_writing_into(ctx, user_id, folder, "making a folder")
    return _one(ctx, user_id, MkdirOp(path=join(folder, name), base_rev=None))


def move(ctx: AppContext, user_id: int, path: str, to: str) -> Entry:
    """Rename or move a file or a folder (with everything in it) to the path `to`."""
    entry = need(ctx, user_id, path)
    target = checked(to)
    refuse_writing_into(ctx, user_id, parent(entry.path), "renaming or moving what it holds")
    refuse_writing_into(ctx, user_id, parent(target), "moving something into it")
    return _one(ctx, user_id, MoveOp(path=entry.path, to=target, base_rev=entry.seq))


def delete(ctx: AppContext, user_id: int, path: str) -> int:
    """Move a file or a folder with all it holds to the server's trash (deleted entries, restorable during the
    retention period); children go first, as a device would delete them. Returns how many entries were deleted."""
    entry = need(ctx, user_id, path)
    if entry.kind == "file" and name_of(path) == KEY_FILE and encrypted_root(ctx, user_id, parent(path)) is not None:
        raise ActionFailed("This is the encrypted folder's key file: without it no device can open the folder. "
                           "Delete the whole folder instead.", 409)
    below = ctx.meta.live_below(user_id, path) if entry.kind == "dir" else []
    ops: list[Op] = [DeleteOp(path=e.path, base_rev=e.seq) for e in reversed([entry, *below])]
    results = _commit(ctx, user_id, ops)
    failed = [r for r in results if isinstance(r, OpFail)]
    if failed:
        raise ActionFailed(f"{len(results) - len(failed)} of {len(results)} deleted; the rest changed meanwhile: "
                           f"{describe(failed[0])}", 409)
    return len(results)


def restore(ctx: AppContext, user_id: int, path: str, rev: int) -> Entry:
    try:
        entry, seqs = ctx.meta.restore(user_id, WEB_DEVICE, checked(path), rev)
    except RestoreError as exc:
        status = {"not_found": 404, "quota_exceeded": 507, "read_only": 403}.get(exc.code, 409)
        raise ActionFailed(f"Not restored: {exc}", status) from None
    for ns_id, seq in seqs.items():
        ctx.notifier.publish(ns_id, seq)
    return entry


def restore_deleted(ctx: AppContext, user_id: int, path: str, since_ms: int) -> int:
    """Restore a deleted file, or a deleted folder with everything deleted below it, each at its last content."""
    path = checked(path)
    trash = [e for e in ctx.meta.deleted(user_id, path, since_ms)]
    if not any(e.path == path for e in trash):
        raise ActionFailed("That is not in the trash (any more).", 404)
    done = 0
    for e in sorted(trash, key=lambda e: e.path):  # parents first
        kept = [r for r in ctx.meta.revisions(user_id, e.path) if not r.deleted]
        if kept and ctx.meta.entry(user_id, e.path) is None:
            restore(ctx, user_id, e.path, kept[0].rev)
            done += 1
    return done


# -- upload ----------------------------------------------------------------------------------------------------

@dataclass
class _Pending:
    blocks: list[tuple[str, bytes]]
    size: int = 0


async def upload(ctx: AppContext, user_id: int, path: str, body: AsyncIterable[bytes], mtime_ns: int | None) -> Entry:
    """Store an uploaded file: cut as it arrives (the daemon's FastCDC), blocks verified, quota-checked and recorded
    in batches by the block routes' code, then one commit. An existing file at `path` gets a new version."""
    path = checked(path)
    if not path:
        raise ActionFailed("Choose a name for the file.")
    await run_in_threadpool(refuse_writing_into, ctx, user_id, parent(path), "uploading")
    cutter = StreamCutter()
    hashes: list[str] = []
    pending = _Pending([])
    replaced = await run_in_threadpool(ctx.meta.entry, user_id, path)
    if replaced is not None and replaced.kind == "dir":
        raise ActionFailed(f"A folder is called {name_of(path)} already: rename the file first.", 409)
    # The quota check of the blocks counts the file they replace as freed: the commit will free it.
    stored = -replaced.size if replaced is not None and replaced.kind == "file" else 0
    total = [0]

    async def flush() -> None:
        nonlocal stored, pending
        if not pending.blocks:
            return
        try:
            await run_in_threadpool(store_verified, ctx, pending.blocks, user_id, stored)
            await run_in_threadpool(record_blocks, ctx, user_id, [(h, len(d)) for h, d in pending.blocks])
        except ApiError as exc:
            full = exc.code == "quota_exceeded"
            raise ActionFailed(f"Your storage is full: {exc.message}." if full else exc.message, exc.status) from None
        stored += pending.size
        pending = _Pending([])

    async def take(chunks: Iterator[bytes]) -> None:
        for chunk in chunks:
            digest = block_hash(chunk)
            hashes.append(digest)
            pending.blocks.append((digest, chunk))
            pending.size += len(chunk)
            total[0] += len(chunk)
        if pending.size >= _FLUSH_BYTES:
            await flush()

    async for data in body:
        await take(cutter.feed(data))
    await take(cutter.finish())
    await flush()
    base = replaced.seq if replaced is not None and replaced.kind == "file" else None
    op = PutOp(path=path, blocks=tuple(hashes), size=total[0],
               mtime_ns=mtime_ns if mtime_ns is not None else time.time_ns(), executable=False, base_rev=base)
    return await run_in_threadpool(_one, ctx, user_id, op)


# -- download --------------------------------------------------------------------------------------------------

def file_bytes(ctx: AppContext, blocks: tuple[str, ...]) -> Iterator[bytes]:
    """A file's content, block by block, each verified against its hash as it is read."""
    for digest in blocks:
        yield read_block(ctx, digest)


class _Sink:
    """A write-only, unseekable file for zipfile: what it is given is handed on by `take`."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._written = 0

    def write(self, data: bytes, /) -> int:
        self._parts.append(bytes(data))
        self._written += len(data)
        return len(data)

    def close(self) -> None:
        pass

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts = []
        return out


def _zip_time(mtime_ns: int) -> tuple[int, int, int, int, int, int]:
    t = time.gmtime(max(0, mtime_ns) / 1e9)
    stamp = (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)
    return max(stamp, _ZIP_EPOCH)


def zip_stream(ctx: AppContext, root: str, entries: list[Entry]) -> Iterator[bytes]:
    """A zip of `entries` (the live tree below `root`), written as it is sent: nothing is held but one block."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for e in entries:
            name = e.path[len(root) + 1:] if root else e.path
            if e.kind == "dir":
                zf.writestr(zipfile.ZipInfo(name + "/", _zip_time(e.mtime_ns)), b"")
            else:
                info = zipfile.ZipInfo(name, _zip_time(e.mtime_ns))
                info.file_size = e.size
                with zf.open(info, "w", force_zip64=e.size > 2**31) as out:
                    for data in file_bytes(ctx, e.blocks):
                        out.write(data)
                        yield sink.take()
            yield sink.take()
    yield sink.take()
