"""Revisions of a path, deleted entries within retention, and restoring an old revision."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from ferrysync.server.auth import CallerDep
from ferrysync.server.context import AppContext, get_ctx
from ferrysync.server.errors import ApiError
from ferrysync.server.models import DeletedResponse, RestoreRequest, RestoreResponse, RevisionsResponse
from ferrysync.server.routes.common import checked_path, revision_json
from ferrysync.server.store.base import RestoreError
from ferrysync.server.store.rows import now_ms

router = APIRouter(prefix="/v1", tags=["history"])
Ctx = Annotated[AppContext, Depends(get_ctx)]

_STATUS = {"not_found": 404, "conflict": 409, "bad_request": 400, "quota_exceeded": 507, "read_only": 403}


@router.get("/revisions", response_model=RevisionsResponse)
def revisions(path: Annotated[str, Query()], caller: CallerDep, ctx: Ctx) -> dict[str, Any]:
    """Every retained version of the path, newest first (deletions included, flagged deleted=true)."""
    found = ctx.meta.revisions(caller.user_id, checked_path(path))
    return {"revisions": [revision_json(r) for r in found]}


@router.get("/deleted", response_model=DeletedResponse)
def deleted(caller: CallerDep, ctx: Ctx, prefix: Annotated[str | None, Query()] = None) -> dict[str, Any]:
    """Tombstones still within retention, newest first, optionally under `prefix` (a path or the whole tree)."""
    if prefix:
        checked_path(prefix, "prefix")
    since = now_ms() - ctx.config.retention_ms
    found = ctx.meta.deleted(caller.user_id, prefix or None, since)
    return {"entries": [e.to_json() for e in found]}


@router.post("/restore", response_model=RestoreResponse,
             responses={404: {"description": "no such revision"}, 409: {"description": "path is blocked"},
                        507: {"description": "quota_exceeded: restoring it would pass the account's quota"}})
def restore(body: RestoreRequest, caller: CallerDep, ctx: Ctx) -> dict[str, Any]:
    """Make an old revision's content current again, as a new revision at its path."""
    path = checked_path(body.path)
    try:
        entry, seqs = ctx.meta.restore(caller.user_id, caller.device.name, path, body.rev)
    except RestoreError as exc:
        extra = {"current": exc.current.to_json() if exc.current else None} if exc.code == "conflict" else {}
        raise ApiError(_STATUS.get(exc.code, 400), exc.code, str(exc), **extra) from None
    for ns_id, seq in seqs.items():
        ctx.notifier.publish(ns_id, seq)
    return {"entry": entry.to_json()}
