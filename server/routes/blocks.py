"""Block endpoints: which are missing, single upload, batch upload, download of one or many. All answered per user."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ferrysync.server.auth import CallerDep
from ferrysync.server.batch_records import BadRecord, RecordSplitter, record_header
from ferrysync.server.blocks.base import BlockCorrupt
from ferrysync.server.context import AppContext, get_ctx
from ferrysync.server.errors import ApiError
from ferrysync.server.hashing import block_hash, is_block_hash
from ferrysync.server.limits import MAX_BLOCK, MAX_FETCH_BYTES
from ferrysync.server.models import BatchStored, BlockStored, FetchRequest, MissingRequest, MissingResponse
from ferrysync.server.quota import check_upload
from ferrysync.server.store.blockmarks import BlockRaced

log = logging.getLogger("ferrysync.server")
router = APIRouter(prefix="/v1/blocks", tags=["blocks"])
Ctx = Annotated[AppContext, Depends(get_ctx)]

_FLUSH_BYTES = 4 * 1024 * 1024
_OCTETS = {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
           "required": True}


Digest = Annotated[str, Path(description="BLAKE3 of the block, 64 lowercase hex characters",
                             examples=["af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"])]


def _check_hash(digest: str) -> str:
    if not is_block_hash(digest):
        raise ApiError(400, "bad_request", "a block hash is 64 lowercase hex characters")
    return digest


def store_verified(ctx: AppContext, records: list[tuple[str, bytes]], user_id: int, earlier: int = 0) -> None:
    """Verify each block's BLAKE3, check the user's quota (`earlier`: bytes of this request stored already), mark
    the blocks as being uploaded (garbage collection spares them), store them.

    Raises hash_mismatch on the first bad block, or quota_exceeded, before anything is written.
    """
    for digest, data in records:
        if block_hash(data) != digest:
            raise ApiError(400, "hash_mismatch", "block content does not match its hash", hash=digest)
    if not records:
        return
    check_upload(ctx.meta, user_id, earlier + sum(len(data) for _, data in records))
    try:
        ctx.meta.mark_uploading([d for d, _ in records])
    except BlockRaced as exc:
        raise ApiError(503, "unavailable", str(exc)) from None
    ctx.blocks.put_many(records)


def record_blocks(ctx: AppContext, user_id: int, blocks: list[tuple[str, int]]) -> None:
    try:
        ctx.meta.add_user_blocks(user_id, blocks)
    except BlockRaced as exc:
        raise ApiError(503, "unavailable", str(exc)) from None
    ctx.metrics.add("ferry_blocks_uploaded_total", len(blocks))
    ctx.metrics.add("ferry_block_bytes_uploaded_total", sum(size for _, size in blocks))


@router.post("/missing", response_model=MissingResponse)
def missing(body: MissingRequest, caller: CallerDep, ctx: Ctx) -> dict[str, Any]:
    """Which of these hashes this user does not hold yet (never says anything about other users' blocks)."""
    for digest in body.hashes:
        _check_hash(digest)
    return {"missing": ctx.meta.missing_blocks(caller.user_id, body.hashes)}


@router.put("/{digest}", status_code=201, response_model=BlockStored, openapi_extra={"requestBody": _OCTETS},
            responses={400: {"description": "bad hash or hash mismatch"}, 413: {"description": "over 8 MiB"},
                       507: {"description": "quota_exceeded: the block would not fit under the account's quota"}})
async def put_block(digest: Digest, request: Request, caller: CallerDep, ctx: Ctx) -> JSONResponse:
    """Upload one block (raw bytes, at most 8 MiB); stored only if its BLAKE3 equals the hash in the URL."""
    _check_hash(digest)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BLOCK:
            raise ApiError(413, "too_large", f"a block is at most {MAX_BLOCK} bytes")
    body = b"".join(chunks)  # one copy: a growing bytearray copied each byte twice on the event loop's thread
    await run_in_threadpool(store_verified, ctx, [(digest, body)], caller.user_id)
    await run_in_threadpool(record_blocks, ctx, caller.user_id, [(digest, len(body))])
    return JSONResponse({"hash": digest, "size": len(body)}, status_code=201)


@router.post("/batch", response_model=BatchStored, openapi_extra={"requestBody": _OCTETS},
             responses={400: {"description": "bad record or hash mismatch"}, 413: {"description": "too large"},
                        507: {"description": "quota_exceeded: the blocks would not fit under the account's quota"}})
async def put_batch(request: Request, caller: CallerDep, ctx: Ctx) -> dict[str, Any]:
    """Upload many blocks: records of 64 hex chars + 8-byte big-endian length + bytes. All or nothing."""
    records = RecordSplitter(_check_header)
    pending: list[tuple[str, bytes]] = []
    pending_bytes = 0
    flushed = 0
    stored: dict[str, int] = {}
    try:
        async for chunk in request.stream():
            for digest, data in records.feed(chunk):
                pending.append((digest, data))
                pending_bytes += len(data)
                stored[digest] = len(data)
            if pending_bytes >= _FLUSH_BYTES:
                await run_in_threadpool(store_verified, ctx, pending, caller.user_id, flushed)
                pending, flushed, pending_bytes = [], flushed + pending_bytes, 0
        records.finish()
    except BadRecord as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    await run_in_threadpool(store_verified, ctx, pending, caller.user_id, flushed)
    # Only now, with every record verified, do the blocks become the user's.
    await run_in_threadpool(record_blocks, ctx, caller.user_id, list(stored.items()))
    return {"stored": list(stored)}


def _check_header(digest: str, length: int) -> None:
    _check_hash(digest)
    if length > MAX_BLOCK:
        raise ApiError(413, "too_large", f"a block is at most {MAX_BLOCK} bytes", hash=digest)


def read_block(ctx: AppContext, digest: str) -> bytes:
    """A stored block's verified bytes; a damaged copy is never served (500 corrupt_block, the operator told)."""
    try:
        return ctx.blocks.get(digest)
    except KeyError:
        raise ApiError(404, "not_found", "no such block", missing=[digest]) from None
    except BlockCorrupt as exc:
        # The server's storage failed, not the client: a 5xx (alerts fire), with its own code so it is not taken
        # for a bug, and the operator is told which block and where (restore it from a backup of the store).
        log.error("CORRUPT BLOCK: %s; it is not served. Restore this file from a backup of the block store.", exc)
        ctx.metrics.add("ferry_blocks_corrupt_total")
        raise ApiError(500, "corrupt_block", "the server's copy of this block is damaged; its operator has been "
                       "told", hash=digest) from None


@router.post("/fetch", response_class=Response,
             responses={200: {"content": {"application/octet-stream": {}},
                              "description": "one record per distinct hash, in request order: 64 hex characters, "
                                             "8-byte big-endian length, the bytes (the framing of /v1/blocks/batch)"},
                        404: {"description": "not_found: some hashes are not this user's; `missing` lists them"},
                        413: {"description": "too_large: the blocks add up to more than max_fetch_bytes"},
                        500: {"description": "corrupt_block: a stored copy is damaged (never served)"}})
def fetch_blocks(body: FetchRequest, caller: CallerDep, ctx: Ctx) -> Response:
    """Download many blocks in one request: the round trip a small file would otherwise cost on its own.

    All or nothing, decided before a byte is sent: every hash must be one this user holds (else 404 listing the
    missing ones; other users' blocks are missing exactly like absent ones), and their sizes must add up to at
    most max_fetch_bytes (else 413). Each block is verified against its hash as it is read, as GET does."""
    wanted = list(dict.fromkeys(_check_hash(d) for d in body.hashes))
    sizes = ctx.meta.user_block_sizes(caller.user_id, wanted)
    missing = [d for d in wanted if d not in sizes]
    if missing:
        raise ApiError(404, "not_found", f"{len(missing)} of these blocks are not yours (or not stored)",
                       missing=missing)
    total = sum(sizes.values())
    if total > MAX_FETCH_BYTES:
        raise ApiError(413, "too_large", f"these blocks add up to {total} bytes, over the {MAX_FETCH_BYTES}-byte "
                       "limit of one fetch: ask for fewer")
    parts: list[bytes] = []
    for digest in wanted:
        data = read_block(ctx, digest)
        parts += [record_header(digest, len(data)), data]
    ctx.metrics.add("ferry_block_bytes_downloaded_total", sum(sizes.values()))
    return Response(content=b"".join(parts), media_type="application/octet-stream")


@router.get("/{digest}", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "the block's bytes"},
                       404: {"description": "this user holds no such block"},
                       500: {"description": "corrupt_block: the stored copy is damaged (never served)"}})
def get_block(digest: Digest, caller: CallerDep, ctx: Ctx) -> Response:
    """Download a block this user holds; other users' blocks are 404 exactly like absent ones."""
    _check_hash(digest)
    if not ctx.meta.user_has_block(caller.user_id, digest):
        raise ApiError(404, "not_found", "no such block")
    data = read_block(ctx, digest)
    ctx.metrics.add("ferry_block_bytes_downloaded_total", len(data))
    return Response(content=data, media_type="application/octet-stream")
