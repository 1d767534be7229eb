"""Commits: batches of put/mkdir/delete/move ops, each applied alone against the revision it was based on."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ferrysync.server.auth import CallerDep
from ferrysync.server.context import AppContext, get_ctx
from ferrysync.server.errors import ApiError
from ferrysync.server.hashing import is_block_hash
from ferrysync.server.models import CommitRequest, CommitResponse, DeleteOpIn, MkdirOpIn, MoveOpIn, OpIn, PutOpIn
from ferrysync.server.routes.common import checked_path, result_json
from ferrysync.server.store.base import DeleteOp, MkdirOp, MoveOp, Op, OpOk, PutOp

router = APIRouter(prefix="/v1", tags=["tree"])
Ctx = Annotated[AppContext, Depends(get_ctx)]


def to_op(op: OpIn) -> Op:
    """Validate what pydantic cannot (paths, hashes) and build the store's op; any error fails the request."""
    path = checked_path(op.path)
    if isinstance(op, PutOpIn):
        for digest in op.blocks:
            if not is_block_hash(digest):
                raise ApiError(400, "bad_request", "a block hash is 64 lowercase hex characters", path=path)
        return PutOp(path=path, blocks=tuple(op.blocks), size=op.size, mtime_ns=op.mtime_ns,
                     executable=op.executable, base_rev=op.base_rev)
    if isinstance(op, MkdirOpIn):
        return MkdirOp(path=path, base_rev=op.base_rev)
    if isinstance(op, DeleteOpIn):
        return DeleteOp(path=path, base_rev=op.base_rev)
    assert isinstance(op, MoveOpIn)
    return MoveOp(path=path, to=checked_path(op.to, "to"), base_rev=op.base_rev)


@router.post("/commit", response_model=CommitResponse,
             responses={400: {"description": "a malformed op: nothing was applied"}})
def commit(body: CommitRequest, caller: CallerDep, ctx: Ctx) -> JSONResponse:
    """Apply ops in order; each result is {"ok": true, "entry"} or {"ok": false, "code", ...} for that op alone."""
    ops = [to_op(op) for op in body.ops]
    if not ops:
        return JSONResponse({"results": []})
    results, seqs = ctx.meta.commit(caller.user_id, caller.device.name, ops)
    applied = sum(isinstance(r, OpOk) for r in results)
    for ns_id, seq in seqs.items():
        ctx.notifier.publish(ns_id, seq)
    if applied:
        ctx.metrics.add("ferry_commits_total")
        ctx.metrics.add("ferry_commit_ops_total", applied)
    return JSONResponse({"results": [result_json(r) for r in results]})
