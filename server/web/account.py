"""Signing in and out, the account page (storage used, change password) and the devices page (last use, revoke).

Signing in uses the API's own password check and login throttle (server/passwords.py, server/throttle.py): a
browser gets no more guesses than a device does, and the same lockouts apply to both.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from ferrysync.server.errors import ApiError
from ferrysync.server.limits import MAX_NAME_CHARS, MAX_PASSWORD_CHARS
from ferrysync.server.passwords import hash_password, token_hash, verify_password
from ferrysync.server.throttle import LoginThrottle
from ferrysync.server.tokens import expires_at
from ferrysync.server.web import sessions
from ferrysync.server.web.common import BASE, Web, form, read_form, to
from ferrysync.server.web.files import ActionFailed
from ferrysync.server.web.sessions import Refused, Signed


def check_new_password(password: str, again: str) -> None:
    if not password:
        raise ActionFailed("The new password may not be empty.")
    if len(password) > MAX_PASSWORD_CHARS:
        raise ActionFailed(f"A password is at most {MAX_PASSWORD_CHARS} characters.")
    if password != again:
        raise ActionFailed("The two new passwords differ.")


class AccountPages:
    def __init__(self, web: Web) -> None:
        self.web = web
        self.ctx = web.ctx

    def routes(self) -> list[Route]:
        w = self.web
        return [
            Route("/login", self.login_form, methods=["GET"]), Route("/login", self.login, methods=["POST"]),
            Route("/logout", w.page(self.logout), methods=["POST"]),
            Route("/account", w.page(self.account)), Route("/password", w.page(self.password), methods=["POST"]),
            Route("/devices", w.page(self.devices)),
            Route("/devices/revoke", w.page(self.revoke), methods=["POST"]),
        ]

    def _login_page(self, request: Request, error: str | None = None, status: int = 200,
                    retry_after: int = 0) -> Response:
        token = sessions.login_form_token(request)
        response = self.web.render(request, "login.html", None, status=status, title="Sign in", error=error,
                                   next=_next(request.query_params.get("next")), login_csrf=token)
        sessions.set_login_cookie(request, response, token)
        if retry_after:
            response.headers["Retry-After"] = str(retry_after)
        return response

    async def login_form(self, request: Request) -> Response:
        try:
            await run_in_threadpool(sessions.current, self.ctx, request)
        except sessions.SignInNeeded:
            return self._login_page(request)
        return RedirectResponse(_next(request.query_params.get("next")), status_code=303)  # signed in already

    async def login(self, request: Request) -> Response:
        try:
            f = await read_form(request)
            sessions.check_login_form(request, f)
        except Refused as exc:
            return PlainTextResponse(exc.message, status_code=exc.status)
        except ActionFailed as exc:
            return PlainTextResponse(exc.message, status_code=exc.status)
        name, password = f.get("user", ""), f.get("password", "")
        if not name or len(name) > MAX_NAME_CHARS or len(password) > MAX_PASSWORD_CHARS:
            return self._login_page(request, "Wrong user name or password.", 401)
        throttle = LoginThrottle.of(self.ctx.meta, self.ctx.config)
        host = request.client.host if request.client is not None else None
        wait = await run_in_threadpool(throttle.retry_after, name, host)
        if wait:
            return self._login_page(request, f"Too many failed sign-ins: try again in {wait} s.", 429, wait)
        found = await run_in_threadpool(self.ctx.meta.get_user, name)
        stored = found[1] if found is not None else None
        try:
            good = await self.ctx.hashing.run(verify_password, stored, password)
        except ApiError as exc:  # the hashing pool is full
            return self._login_page(request, exc.message, exc.status)
        if not good or found is None:
            wait = await run_in_threadpool(throttle.failed, name, host)
            return self._login_page(request, "Wrong user name or password." + (
                f" Try again in {wait} s." if wait else ""), 401, wait)
        await run_in_threadpool(throttle.succeeded, name)
        if (previous := request.cookies.get(sessions.COOKIE)) is not None:  # signing in anew ends the old session
            await run_in_threadpool(self.ctx.meta.end_session, token_hash(previous))
        response = RedirectResponse(_next(f.get("next")), status_code=303)
        await run_in_threadpool(sessions.start, self.ctx, found[0].id, request, response)
        return response

    async def logout(self, request: Request, signed: Signed) -> Response:
        response = RedirectResponse(f"{BASE}/login", status_code=303)
        await run_in_threadpool(sessions.end, self.ctx, request, response)
        return response

    async def account(self, request: Request, signed: Signed) -> Response:
        use = await run_in_threadpool(self.ctx.meta.usage, signed.user_id)
        percent = None if not use.quota_bytes else min(100, round(100 * use.bytes / use.quota_bytes))
        return self.web.render(request, "account.html", signed, page="account", title="Account", usage=use,
                               percent=percent)

    async def password(self, request: Request, signed: Signed) -> Response:
        f = form(request)
        name = signed.session.user.name
        found = await run_in_threadpool(self.ctx.meta.get_user, name)
        if found is None or not await self.ctx.hashing.run(verify_password, found[1], f.get("current", "")):
            raise ActionFailed("The current password is wrong.")
        check_new_password(f.get("new", ""), f.get("again", ""))
        hashed = await self.ctx.hashing.run(hash_password, f["new"])
        await run_in_threadpool(self.ctx.meta.set_password, name, hashed)  # signs every browser out…
        response = to("account", note="Password changed. Other browsers were signed out; devices stay signed in.")
        await run_in_threadpool(sessions.start, self.ctx, signed.user_id, request, response)  # …but this one
        return response

    async def devices(self, request: Request, signed: Signed) -> Response:
        found = await run_in_threadpool(self.ctx.meta.list_devices, signed.user_id)
        rows = [(d, expires_at(self.ctx.config, d)) for d in found]
        return self.web.render(request, "devices.html", signed, page="devices", title="Devices", devices=rows)

    async def revoke(self, request: Request, signed: Signed) -> Response:
        device_id = form(request).get("device_id", "")
        if not await run_in_threadpool(self.ctx.meta.revoke_device, device_id, signed.user_id):
            raise ActionFailed("No such device.", 404)
        return to("devices", note="Device signed out: it must log in again to sync.")


def _next(target: str | None) -> str:
    """Where to go after signing in: a page of this app only (never another site)."""
    if target and target.startswith(BASE + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{BASE}/files/"

