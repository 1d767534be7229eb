"""The settings window's pages: each one calls the control channel's handlers and renders what they answer.

No page holds logic of its own about folders, conflicts or settings: what the CLI can do through the socket, a page
does through the same handler (`call`), with the same checks and the same errors. A form posts, the handler runs,
and the browser is redirected back (post/redirect/get) with the outcome in words, so a reload never repeats it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ferrysync.daemon.ipc.protocol import IpcError
from ferrysync.daemon.settings_schema import BY_NAME, Setting

Call = Callable[[str, Mapping[str, Any]], Mapping[str, Any]]

NAV = (("status", "", "Status"), ("folders", "folders", "Folders"), ("selective", "selective", "Selective sync"),
       ("conflicts", "conflicts", "Conflicts"), ("activity", "activity", "Activity"),
       ("problems", "problems", "Errors and kept-out names"), ("deletions", "deletions", "Deletions to approve"),
       ("versions", "versions", "Versions and trash"), ("settings", "settings", "Settings"),
       ("account", "account", "Account and devices"))


def when(ts: object) -> str:
    if isinstance(ts, int | float) and not isinstance(ts, bool):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
    return "" if ts is None else str(ts)


def size(n: object) -> str:
    if not isinstance(n, int | float) or isinstance(n, bool):
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


class Pages:
    def __init__(self, call: Call, env: jinja2.Environment, base: str) -> None:
        self.call = call
        self.env = env
        self.base = base
        env.filters.update(when=when, size=size)

    def routes(self) -> list[Route]:
        get, post = ["GET"], ["POST"]
        return [
            Route("/", self.status, methods=get), Route("/folders", self.folders, methods=get),
            Route("/folders/add", self.folder_add, methods=post),
            Route("/folders/remove", self.folder_remove, methods=post),
            Route("/folders/pause", self.folder_pause, methods=post),
            Route("/folders/resume", self.folder_resume, methods=post),
            Route("/selective", self.selective, methods=get), Route("/selective", self.selective_save, methods=post),
            Route("/selective/new", self.selective_new, methods=post),
            Route("/conflicts", self.conflicts, methods=get), Route("/conflicts/file", self.conflict_file, methods=get),
            Route("/conflicts/keep", self.conflict_keep, methods=post),
            Route("/activity", self.activity, methods=get), Route("/problems", self.problems, methods=get),
            Route("/deletions", self.deletions, methods=get),
            Route("/deletions/approve", self.deletions_approve, methods=post),
            Route("/deletions/reject", self.deletions_reject, methods=post),
            Route("/versions", self.versions, methods=get),
            Route("/versions/restore", self.version_restore, methods=post),
            Route("/trash/restore", self.trash_restore, methods=post),
            Route("/settings", self.settings, methods=get), Route("/settings", self.settings_save, methods=post),
            Route("/account", self.account, methods=get), Route("/account/revoke", self.device_revoke, methods=post),
        ]

    # --- helpers ---

    def render(self, request: Request, name: str, page: str, title: str, **ctx: Any) -> HTMLResponse:
        html = self.env.get_template(name).render(
            nav=NAV, page=page, title=title, note=request.query_params.get("note"),
            error=request.query_params.get("error"), **ctx)
        return HTMLResponse(html)

    def back(self, where: str, *, note: str | None = None, error: str | None = None, **query: str) -> Response:
        q = {k: v for k, v in {**query, "note": note, "error": error}.items() if v is not None}
        return RedirectResponse(f"{self.base}/{where}" + (f"?{urlencode(q)}" if q else ""), status_code=303)

    def attempt(self, method: str, params: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None]:
        try:
            return self.call(method, params), None
        except IpcError as exc:
            return {}, exc.message

    @staticmethod
    async def form(request: Request) -> dict[str, Any]:
        """The posted form (url-encoded: the pages' forms send nothing else, so no multipart parser is needed);
        a field sent several times (checkboxes) is a list."""
        try:
            data = parse_qs((await request.body()).decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return {}
        return {k: v if len(v) > 1 else v[0] for k, v in data.items()}

    async def attempt_async(self, method: str, params: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None]:
        """`attempt` on a worker thread: a handler may wait on the server (restore, revoke)."""
        return await run_in_threadpool(self.attempt, method, params)

    async def act(self, request: Request, where: str, method: str, fields: tuple[str, ...], done: str,
                  **extra: Any) -> Response:
        form = await self.form(request)
        params = {**{f: form[f] for f in fields if form.get(f)}, **extra}
        _, error = await self.attempt_async(method, params)
        return self.back(where, note=None if error else done, error=error)

    # --- pages ---

    def status(self, request: Request) -> Response:
        st, error = self.attempt("status", {})
        return self.render(request, "status.html", "status", "Status", status=st, load_error=error)

    def folders(self, request: Request) -> Response:
        st, error = self.attempt("status", {})
        return self.render(request, "folders.html", "folders", "Folders", status=st, load_error=error)

    async def folder_add(self, request: Request) -> Response:
        form = await self.form(request)
        params: dict[str, Any] = {f: form[f] for f in ("local", "remote") if form.get(f)}
        if form.get("encrypted"):
            params.update(encrypted=True, passphrase=form.get("passphrase", ""))
        result, error = await self.attempt_async("folder_add", params)
        folder = result.get("folder") if isinstance(result.get("folder"), dict) else {}
        recovery = folder.get("recovery_key") if isinstance(folder, dict) else None
        if error is None and recovery:
            # Shown once, in this answer only: never in a redirect's URL (history, logs), never cached.
            st, load_error = self.attempt("status", {})
            page = self.render(request, "folders.html", "folders", "Folders", status=st, load_error=load_error,
                               recovery_key=recovery)
            page.headers["Cache-Control"] = "no-store"
            return page
        return self.back("folders", note=None if error else "Folder added.", error=error)

    async def folder_remove(self, request: Request) -> Response:
        return await self.act(request, "folders", "folder_remove", ("id",),
                              "Folder removed. Its files stay on this disk and on the server.")

    async def folder_pause(self, request: Request) -> Response:
        form = await self.form(request)
        _, error = await self.attempt_async("pause", {"folder": form.get("id", "")} if form.get("id") else {})
        return self.back("folders", note=None if error else "Paused.", error=error)

    async def folder_resume(self, request: Request) -> Response:
        form = await self.form(request)
        _, error = await self.attempt_async("resume", {"folder": form.get("id", "")} if form.get("id") else {})
        return self.back("folders", note=None if error else "Resumed.", error=error)

    def selective(self, request: Request) -> Response:
        st, error = self.attempt("status", {})
        folders = st.get("folders", []) if isinstance(st.get("folders"), list) else []
        fid = request.query_params.get("folder") or (folders[0]["id"] if folders else "")
        path = request.query_params.get("path", "").strip("/")
        dirs: list[Any] = []
        folder_info: Mapping[str, Any] = {}
        if fid and error is None:
            answer, error = self.attempt("remote_dirs", {"folder": fid, "path": path})
            dirs = list(answer.get("dirs", []))
            if error is None:
                ex, _ = self.attempt("excluded", {"folder": fid})
                folder_info = next(iter(ex.get("folders", [])), {})
        crumbs = []
        parts = path.split("/") if path else []
        for i, part in enumerate(parts):
            crumbs.append((part, "/".join(parts[: i + 1])))
        return self.render(request, "selective.html", "selective", "Selective sync", folders=folders, fid=fid,
                           path=path, crumbs=crumbs, dirs=dirs, info=folder_info, load_error=error)

    async def selective_save(self, request: Request) -> Response:
        form = await self.form(request)
        fid, path = str(form.get("folder", "")), str(form.get("path", ""))
        shown = _as_list(form.get("shown"))
        ticked = set(_as_list(form.get("include")))
        was = set(_as_list(form.get("was_excluded")))
        notes, errors = [], []
        for p in shown:
            method = "include" if p in ticked and p in was else "exclude" if p not in ticked and p not in was else ""
            if not method:
                continue
            answer, error = await self.attempt_async(method, {"folder": fid, "path": p})
            if error:
                errors.append(f"{p}: {error}")
                continue
            notes.append(f"{'Included' if method == 'include' else 'Excluded'} {p}.")
            notes += [f"Kept on this disk: {k.get('path')} ({k.get('reason')})" for k in answer.get("kept", [])]
        return self.back("selective", note=" ".join(notes) or "Nothing changed.", error="; ".join(errors) or None,
                         folder=fid, path=path)

    async def selective_new(self, request: Request) -> Response:
        form = await self.form(request)
        fid, on = str(form.get("folder", "")), bool(form.get("auto_include_new"))
        _, error = await self.attempt_async("folder_set", {"folder": fid, "auto_include_new": on})
        note = "New top-level folders will be downloaded." if on else "New top-level folders stay on the server."
        return self.back("selective", note=None if error else note, error=error, folder=fid)

    def conflicts(self, request: Request) -> Response:
        answer, error = self.attempt("conflicts", {})
        return self.render(request, "conflicts.html", "conflicts", "Conflicts", conflicts=answer.get("conflicts", []),
                           load_error=error)

    def conflict_file(self, request: Request) -> Response:
        """One side of a conflict, for the browser to save; only paths the conflicts list names. Always as an
        attachment (and nosniff): a synced HTML file shown inline would run as a page of this window."""
        wanted = request.query_params.get("path", "")
        answer, _ = self.attempt("conflicts", {})
        known = {p for c in answer.get("conflicts", []) for p in (c.get("path"), c.get("original"))}
        if wanted not in known or not Path(wanted).is_file():
            return Response("Not a file of a current conflict.", status_code=404)
        return FileResponse(wanted, filename=Path(wanted).name, content_disposition_type="attachment")

    async def conflict_keep(self, request: Request) -> Response:
        form = await self.form(request)
        keep = str(form.get("keep", ""))
        _, error = await self.attempt_async("conflict_resolve", {"path": str(form.get("path", "")), "keep": keep})
        done = "Kept the original; the conflicted copy is in the trash." if keep == "original" else \
            "Kept the conflicted copy in the original's place; the original is in the trash."
        return self.back("conflicts", note=None if error else done, error=error)

    def activity(self, request: Request) -> Response:
        answer, error = self.attempt("activity", {"limit": 200})
        return self.render(request, "activity.html", "activity", "Activity", rows=answer.get("activity", []),
                           load_error=error)

    def problems(self, request: Request) -> Response:
        errs, e1 = self.attempt("errors", {})
        names, e2 = self.attempt("name_issues", {})
        return self.render(request, "problems.html", "problems", "Errors and kept-out names",
                           errors=errs.get("errors", []), names=names.get("entries", []), load_error=e1 or e2)

    def deletions(self, request: Request) -> Response:
        answer, error = self.attempt("deletions", {})
        pending = list(answer.get("pending", []))
        by_folder: dict[str, list[Any]] = {}
        for d in pending:
            by_folder.setdefault(str(d.get("folder_id")), []).append(d)
        return self.render(request, "deletions.html", "deletions", "Deletions to approve", by_folder=by_folder,
                           count=len(pending), load_error=error)

    async def deletions_approve(self, request: Request) -> Response:
        return await self.act(request, "deletions", "deletions_approve", ("folder_id",),
                              "Approved: the deletions go ahead.")

    async def deletions_reject(self, request: Request) -> Response:
        return await self.act(request, "deletions", "deletions_reject", ("folder_id",),
                              "Rejected: the files are kept and will be synced back.")

    def versions(self, request: Request) -> Response:
        path = request.query_params.get("path", "")
        revs: list[Any] = []
        error = None
        if path:
            answer, error = self.attempt("versions", {"path": path})
            revs = list(answer.get("revisions", []))
        trash, e2 = self.attempt("trash_list", {})
        return self.render(request, "versions.html", "versions", "Versions and trash", path=path, revisions=revs,
                           trash=trash.get("entries", []), load_error=error or e2)

    async def version_restore(self, request: Request) -> Response:
        form = await self.form(request)
        path = str(form.get("path", ""))
        try:
            rev = int(str(form.get("rev", "")))
        except ValueError:
            return self.back("versions", error="Choose a version to restore.", path=path)
        _, error = await self.attempt_async("restore", {"path": path, "rev": rev})
        return self.back("versions", note=None if error else f"Restored version {rev} of {path}.", error=error,
                         path=path)

    async def trash_restore(self, request: Request) -> Response:
        return await self.act(request, "versions", "trash_restore", ("path",), "Restored from the trash.")

    def settings(self, request: Request) -> Response:
        answer, error = self.attempt("settings_get", {})
        values = {**answer.get("fixed", {}), **answer.get("settings", {})}
        return self.render(request, "settings.html", "settings", "Settings", schema=list(BY_NAME.values()),
                           values=values, live=set(answer.get("settings", {})), load_error=error)

    async def settings_save(self, request: Request) -> Response:
        form = await self.form(request)
        current, error = await self.attempt_async("settings_get", {})
        if error:
            return self.back("settings", error=error)
        live: Mapping[str, Any] = current.get("settings", {})
        changed, errors = [], []
        for key, old in live.items():
            setting = BY_NAME.get(key)
            if setting is None or (key not in form and setting.type is not bool):
                continue
            try:
                value = _form_value(setting, form.get(key))
            except ValueError as exc:
                errors.append(f"{key}: {exc}")
                continue
            if value == old:
                continue
            _, err = await self.attempt_async("settings_set", {"key": key, "value": value})
            if err:
                errors.append(err)
            else:
                changed.append(key)
        note = f"Saved: {', '.join(changed)}." if changed else "Nothing changed."
        return self.back("settings", note=note, error="; ".join(errors) or None)

    def account(self, request: Request) -> Response:
        answer, error = self.attempt("devices", {})
        st, _ = self.attempt("status", {})
        return self.render(request, "account.html", "account", "Account and devices", info=answer,
                           devices=answer.get("devices", []), status=st, load_error=error)

    async def device_revoke(self, request: Request) -> Response:
        return await self.act(request, "account", "device_revoke", ("device_id",), "Device signed out.")


def _as_list(v: object) -> list[str]:
    if isinstance(v, list):
        return [str(x) for x in v]
    return [str(v)] if v else []


def _form_value(setting: Setting, raw: object) -> object:
    """A form field as the setting's JSON type (the handler checks its range). An unticked box sends nothing."""
    if setting.type is bool:
        return raw not in (None, "", [])
    text = str(raw if not isinstance(raw, list) else raw[-1])
    if setting.optional and not text.strip():
        return None
    return setting.from_text(text)
