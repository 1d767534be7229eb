"""The admin page: the same user operations as `ferry-server user add/remove/passwd/quota/admin`, for users whose
admin flag is on. Each form calls the store just as the command does (server/userrules.py holds the checks both
use)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ferrysync.server.passwords import hash_password
from ferrysync.server.store.sql import UserExists
from ferrysync.server.userrules import parse_quota, valid_user_name
from ferrysync.server.web.account import check_new_password
from ferrysync.server.web.common import Web, form, to
from ferrysync.server.web.files import ActionFailed
from ferrysync.server.web.sessions import Signed


class AdminPages:
    def __init__(self, web: Web) -> None:
        self.web = web
        self.ctx = web.ctx

    def routes(self) -> list[Route]:
        a = self.web.admin
        return [Route("/admin", a(self.users)), Route("/admin/add", a(self.add), methods=["POST"]),
                Route("/admin/quota", a(self.quota), methods=["POST"]),
                Route("/admin/password", a(self.password), methods=["POST"]),
                Route("/admin/flag", a(self.flag), methods=["POST"]),
                Route("/admin/remove", a(self.remove), methods=["POST"])]

    def _rows(self) -> list[tuple[object, object]]:
        return [(u, self.ctx.meta.usage(u.id)) for u in self.ctx.meta.list_users()]

    async def users(self, request: Request, signed: Signed) -> Response:
        rows = await run_in_threadpool(self._rows)
        return self.web.render(request, "admin.html", signed, page="admin", title="Users", rows=rows)

    async def add(self, request: Request, signed: Signed) -> Response:
        f = form(request)
        name = f.get("name", "").strip()
        if not valid_user_name(name):
            raise ActionFailed(f"Not a valid user name: {name!r}.")
        check_new_password(f.get("password", ""), f.get("again", ""))
        quota = _quota(f.get("quota", ""))
        hashed = await self.ctx.hashing.run(hash_password, f["password"])
        try:
            user = await run_in_threadpool(self.ctx.meta.add_user, name, hashed)
        except UserExists:
            raise ActionFailed(f"There is already a user called {name}.") from None
        if quota is not None:
            await run_in_threadpool(self.ctx.meta.set_quota, user.name, quota)
        if f.get("admin") == "on":
            await run_in_threadpool(self.ctx.meta.set_admin, user.name, True)
        return to("admin", note=f"Added {name}.")

    async def quota(self, request: Request, signed: Signed) -> Response:
        f = form(request)
        quota = _quota(f.get("quota", ""))
        await self._changed(await run_in_threadpool(self.ctx.meta.set_quota, f.get("name", ""), quota))
        return to("admin", note=f"Quota of {f.get('name')} set.")

    async def password(self, request: Request, signed: Signed) -> Response:
        f = form(request)
        check_new_password(f.get("password", ""), f.get("password", ""))
        hashed = await self.ctx.hashing.run(hash_password, f["password"])
        await self._changed(await run_in_threadpool(self.ctx.meta.set_password, f.get("name", ""), hashed))
        return to("admin", note=f"Password of {f.get('name')} changed; their browsers were signed out.")

    async def flag(self, request: Request, signed: Signed) -> Response:
        f = form(request)
        name, on = f.get("name", ""), f.get("admin") == "on"
        if name == signed.session.user.name and not on:
            raise ActionFailed("You cannot take your own admin rights away here (use `ferry-server user admin`).")
        await self._changed(await run_in_threadpool(self.ctx.meta.set_admin, name, on))
        return to("admin", note=f"{name} is {'now' if on else 'no longer'} an administrator.")

    async def remove(self, request: Request, signed: Signed) -> Response:
        f = form(request)
        name = f.get("name", "")
        if f.get("confirm", "") != name:
            raise ActionFailed("Type the user's name to confirm removing them and all their files.")
        if name == signed.session.user.name:
            raise ActionFailed("You cannot remove yourself here.")
        await self._changed(await run_in_threadpool(self.ctx.meta.remove_user, name))
        return to("admin", note=f"Removed {name} and all their files.")

    @staticmethod
    async def _changed(done: bool) -> None:
        if not done:
            raise ActionFailed("No such user.", 404)


def _quota(text: str) -> int | None:
    try:
        return parse_quota(text)
    except ValueError as exc:
        raise ActionFailed(str(exc)) from None
