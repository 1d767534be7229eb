"""Folders shared between users: share with a user, list members, change a member's role, revoke, leave; and
the caller's mounts. The model (namespaces, mounts, roles, the feed cursor) is described in docs/api.md."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from ferrysync.server.auth import CallerDep
from ferrysync.server.context import AppContext, get_ctx
from ferrysync.server.errors import ApiError
from ferrysync.server.models import (
    LeaveRequest,
    MemberOut,
    MemberRequest,
    MembersResponse,
    MountsResponse,
    RoleRequest,
    ShareFolderRequest,
)
from ferrysync.server.routes.common import checked_path
from ferrysync.server.store.sharing import ShareError

router = APIRouter(prefix="/v1/folders", tags=["sharing"])
Ctx = Annotated[AppContext, Depends(get_ctx)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "not_owner: only the owner changes who a folder is shared with"},
    404: {"description": "no_such_user, not_found, not_shared, not_a_member"},
}


def _refused(exc: ShareError) -> ApiError:
    return ApiError(exc.status, exc.code, str(exc))


def _announce(ctx: AppContext, seqs: dict[int, int]) -> None:
    for ns_id, seq in seqs.items():
        ctx.notifier.publish(ns_id, seq)


@router.post("/share", response_model=MemberOut, responses=_ERRORS)
def share(body: ShareFolderRequest, caller: CallerDep, ctx: Ctx) -> dict[str, Any]:
    """Share the caller's folder with another user, read-write ("rw") or read-only ("ro"). The folder appears at
    the top of the member's tree (`path` in the answer: its name, or "NAME (OWNER)" if taken); sharing with a
    member again changes their role."""
    try:
        member, seqs = ctx.meta.share_folder(caller.user_id, caller.device.name, checked_path(body.path),
                                             body.user, body.role)
    except ShareError as exc:
        raise _refused(exc) from None
    _announce(ctx, seqs)
    return dataclasses.asdict(member)


@router.get("/members", response_model=MembersResponse, responses=_ERRORS)
def members(path: Annotated[str, Query()], caller: CallerDep, ctx: Ctx) -> dict[str, Any]:
    """Who the shared folder mounted at `path` is shared with, owner first (any member may ask)."""
    try:
        found = ctx.meta.folder_members(caller.user_id, checked_path(path))
    except ShareError as exc:
        raise _refused(exc) from None
    return {"members": [dataclasses.asdict(m) for m in found]}


@router.post("/role", response_model=MemberOut, responses=_ERRORS)
def role(body: RoleRequest, caller: CallerDep, ctx: Ctx) -> dict[str, Any]:
    """Change a member's role (the owner only)."""
    try:
        member = ctx.meta.set_member_role(caller.user_id, checked_path(body.path), body.user, body.role)
    except ShareError as exc:
        raise _refused(exc) from None
    return dataclasses.asdict(member)


@router.post("/unshare", responses=_ERRORS)
def unshare(body: MemberRequest, caller: CallerDep, ctx: Ctx) -> dict[str, bool]:
    """Revoke a member (the owner only): the folder leaves the member's tree and devices; the owner's data stays."""
    try:
        seqs = ctx.meta.unshare_folder(caller.user_id, caller.device.name, checked_path(body.path), body.user)
    except ShareError as exc:
        raise _refused(exc) from None
    _announce(ctx, seqs)
    return {"ok": True}


@router.post("/leave", responses=_ERRORS)
def leave(body: LeaveRequest, caller: CallerDep, ctx: Ctx) -> dict[str, bool]:
    """A member removes a folder shared with them from their own tree (the owner's data stays)."""
    try:
        seqs = ctx.meta.unshare_folder(caller.user_id, caller.device.name, checked_path(body.path), None)
    except ShareError as exc:
        raise _refused(exc) from None
    _announce(ctx, seqs)
    return {"ok": True}


@router.get("/mounts", response_model=MountsResponse)
def mounts(caller: CallerDep, ctx: Ctx) -> dict[str, Any]:
    """The shared folders in the caller's tree: where, with which role, whose, and how many people share each."""
    return {"mounts": [dataclasses.asdict(m) for m in ctx.meta.mounts(caller.user_id)]}
