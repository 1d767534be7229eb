"""The web app's "Shared folders" page: the folders the signed-in user shares with other users (members, roles)
and the folders others share with them; share a folder with a user, change a member's role, revoke a member, leave.

Every action calls the same store methods as the API's /v1/folders routes (routes/folders.py), so the rules
(owner only, no nested shares, mount names, limits) and their typed errors are one code path; a ShareError is shown
on the page with its own HTTP status rather than redirected, so a refused form answers 403/404/400 as the API does.
Changes that move a tree publish the new seqs to the change feed, as the routes do, so the members' daemons wake.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ferrysync.server.store.schema import OWNER
from ferrysync.server.store.sharing import ROLES, MountInfo, ShareError
from ferrysync.server.web.common import Web, form, to
from ferrysync.server.web.files import WEB_DEVICE, ActionFailed, checked
from ferrysync.server.web.sessions import Signed


class FolderSharePages:
    def __init__(self, web: Web) -> None:
        self.web = web
        self.ctx = web.ctx

    def routes(self) -> list[Route]:
        w = self.web
        return [
            Route("/folders", w.page(self.folders)),
            Route("/folders/share", w.page(self.share), methods=["POST"]),
            Route("/folders/role", w.page(self.role), methods=["POST"]),
            Route("/folders/unshare", w.page(self.unshare), methods=["POST"]),
            Route("/folders/leave", w.page(self.leave), methods=["POST"]),
        ]

    def _listing(self, user_id: int) -> tuple[list[dict[str, Any]], list[MountInfo]]:
        """The folders the user owns with their members, and the folders shared with them."""
        owned: list[dict[str, Any]] = []
        shared_with_me: list[MountInfo] = []
        for mount in self.ctx.meta.mounts(user_id):
            if mount.role == OWNER:
                members = [m for m in self.ctx.meta.folder_members(user_id, mount.path) if m.role != OWNER]
                owned.append({"path": mount.path, "members": members})
            else:
                shared_with_me.append(mount)
        return owned, shared_with_me

    async def _render(self, request: Request, signed: Signed, status: int = 200,
                      error: str | None = None) -> Response:
        owned, shared_with_me = await run_in_threadpool(self._listing, signed.user_id)
        values: dict[str, Any] = {"error": error} if error else {}
        return self.web.render(request, "folders.html", signed, status=status, page="folders",
                               title="Shared folders", owned=owned, shared_with_me=shared_with_me, roles=ROLES,
                               prefill=request.query_params.get("path", ""), **values)

    async def folders(self, request: Request, signed: Signed) -> Response:
        return await self._render(request, signed)

    async def _refused(self, request: Request, signed: Signed, exc: ShareError) -> Response:
        message = str(exc)
        return await self._render(request, signed, status=exc.status, error=message[0].upper() + message[1:] + ".")

    def _announce(self, seqs: dict[int, int]) -> None:
        for ns_id, seq in seqs.items():
            self.ctx.notifier.publish(ns_id, seq)

    @staticmethod
    def _fields(request: Request, *names: str) -> list[str]:
        f = form(request)
        return [f.get(name, "").strip() for name in names]

    @staticmethod
    def _path(text: str) -> str:
        path = checked(text)
        if not path:
            raise ActionFailed("Choose a folder (the whole account cannot be shared).")
        return path

    @staticmethod
    def _role(text: str) -> str:
        if text not in ROLES:
            raise ActionFailed("Choose read-write or read-only.")
        return text

    async def share(self, request: Request, signed: Signed) -> Response:
        path_text, user, role_text = self._fields(request, "path", "user", "role")
        path, role = self._path(path_text), self._role(role_text)
        if not user:
            raise ActionFailed("Whom to share with: a user name.")
        try:
            member, seqs = await run_in_threadpool(self.ctx.meta.share_folder, signed.user_id, WEB_DEVICE, path,
                                                   user, role)
        except ShareError as exc:
            return await self._refused(request, signed, exc)
        self._announce(seqs)
        return to("folders", note=f"{path} is shared with {member.user} ({_role_name(member.role)}); "
                                  f"they see it as {member.path}.")

    async def role(self, request: Request, signed: Signed) -> Response:
        path_text, user, role_text = self._fields(request, "path", "user", "role")
        path, role = self._path(path_text), self._role(role_text)
        try:
            member = await run_in_threadpool(self.ctx.meta.set_member_role, signed.user_id, path, user, role)
        except ShareError as exc:
            return await self._refused(request, signed, exc)
        return to("folders", note=f"{member.user} can now use {path} {_role_name(member.role)}.")

    async def unshare(self, request: Request, signed: Signed) -> Response:
        path_text, user = self._fields(request, "path", "user")
        return await self._remove(request, signed, path_text, user, lambda p: f"{p} is no longer shared with {user}.")

    async def leave(self, request: Request, signed: Signed) -> Response:
        (path_text,) = self._fields(request, "path")
        return await self._remove(request, signed, path_text, None,
                                  lambda p: f"You left {p}; its owner's files stay with them.")

    async def _remove(self, request: Request, signed: Signed, path_text: str, member: str | None,
                      note: Callable[[str], str]) -> Response:
        """Revoke `member` (the owner's form) or, with None, leave (a member's form): one store call, as the API."""
        path = self._path(path_text)
        try:
            seqs = await run_in_threadpool(self.ctx.meta.unshare_folder, signed.user_id, WEB_DEVICE, path, member)
        except ShareError as exc:
            return await self._refused(request, signed, exc)
        self._announce(seqs)
        return to("folders", note=note(path))

def _role_name(role: str) -> str:
    return "read-only" if role == "ro" else "read-write"
