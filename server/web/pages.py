"""The file pages: browse, download (a file, an old version, or a folder as a zip), upload, new folder, rename,
move, delete, versions with restore, and the deleted files with restore. Each calls web/files.py, which goes
through the store exactly as the API does."""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ferrysync.server.store.rows import now_ms
from ferrysync.server.web import files
from ferrysync.server.web.common import Web, back, form, to
from ferrysync.server.web.encrypted import encrypted_root
from ferrysync.server.web.files import ActionFailed
from ferrysync.server.web.sessions import Signed


def attachment(name: str) -> str:
    """A Content-Disposition that survives any file name (RFC 6266: an ASCII fallback and the UTF-8 name)."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


class FilePages:
    def __init__(self, web: Web) -> None:
        self.web = web
        self.ctx = web.ctx

    def routes(self) -> list[Route]:
        w = self.web
        return [
            Route("/files", w.page(self.browse)), Route("/files/{path:path}", w.page(self.browse)),
            Route("/download/{path:path}", w.endpoint(self.download)),
            Route("/zip", w.endpoint(self.zip)), Route("/zip/{path:path}", w.endpoint(self.zip)),
            Route("/upload", w.endpoint(self.upload), methods=["POST"]),
            Route("/mkdir", w.page(self.mkdir), methods=["POST"]),
            Route("/rename", w.page(self.rename), methods=["POST"]),
            Route("/move", w.page(self.move), methods=["POST"]),
            Route("/delete", w.page(self.delete), methods=["POST"]),
            Route("/versions/{path:path}", w.page(self.versions)),
            Route("/restore", w.page(self.restore), methods=["POST"]),
            Route("/trash", w.page(self.trash)),
            Route("/undelete", w.page(self.undelete), methods=["POST"]),
        ]

    async def browse(self, request: Request, signed: Signed) -> Response:
        path = files.checked(request.path_params.get("path", ""))
        listing = await run_in_threadpool(files.children, self.ctx, signed.user_id, path)
        encrypted = await run_in_threadpool(encrypted_root, self.ctx, signed.user_id, path)
        return self.web.render(request, "browse.html", signed, page="files", title=files.name_of(path) or "Files",
                               path=path, crumbs=files.breadcrumbs(path), entries=listing,
                               parent=files.parent(path), name_of=files.name_of, encrypted=encrypted)

    async def download(self, request: Request, signed: Signed) -> Response:
        path = files.checked(request.path_params["path"])
        rev = request.query_params.get("rev")
        if rev is not None:
            blocks, size = await run_in_threadpool(self._revision, signed.user_id, path, rev)
        else:
            entry = await run_in_threadpool(files.need, self.ctx, signed.user_id, path)
            if entry.kind != "file":
                raise ActionFailed("That is a folder: download it as a zip.", 404)
            blocks, size = entry.blocks, entry.size
        return StreamingResponse(files.file_bytes(self.ctx, blocks), media_type="application/octet-stream",
                                 headers={"Content-Disposition": attachment(files.name_of(path)),
                                          "Content-Length": str(size)})

    def _revision(self, user_id: int, path: str, rev: str) -> tuple[tuple[str, ...], int]:
        found = [r for r in self.ctx.meta.revisions(user_id, path) if str(r.rev) == rev and not r.deleted]
        if not found or found[0].kind != "file":
            raise ActionFailed("No such version.", 404)
        return found[0].blocks, found[0].size

    async def zip(self, request: Request, signed: Signed) -> Response:
        path = files.checked(request.path_params.get("path", ""))
        if path:
            entry = await run_in_threadpool(files.need, self.ctx, signed.user_id, path)
            if entry.kind != "dir":
                raise ActionFailed("Not a folder.", 404)
        below = await run_in_threadpool(self.ctx.meta.live_below, signed.user_id, path)
        name = f"{files.name_of(path) or 'Ferry'}.zip"
        return StreamingResponse(files.zip_stream(self.ctx, path, below), media_type="application/zip",
                                 headers={"Content-Disposition": attachment(name)})

    async def upload(self, request: Request, signed: Signed) -> Response:
        mtime = request.query_params.get("mtime_ms")
        try:
            mtime_ns = int(mtime) * 1_000_000 if mtime else None
        except ValueError:
            mtime_ns = None
        try:
            entry = await files.upload(self.ctx, signed.user_id, request.query_params.get("path", ""),
                                       request.stream(), mtime_ns)
        except ActionFailed as exc:
            return JSONResponse({"ok": False, "error": exc.message}, status_code=exc.status)
        return JSONResponse({"ok": True, "path": entry.path, "size": entry.size, "rev": entry.rev})

    async def mkdir(self, request: Request, signed: Signed) -> Response:
        f = form(request)
        entry = await run_in_threadpool(files.mkdir, self.ctx, signed.user_id, files.checked(f.get("folder", "")),
                                        f.get("name", "").strip())
        return back(request, note=f"Made the folder {files.name_of(entry.path)}.")

    async def rename(self, request: Request, signed: Signed) -> Response:
        f = form(request)
        path = files.checked(f.get("path", ""))
        target = files.join(files.parent(path), f.get("name", "").strip())
        await run_in_threadpool(files.move, self.ctx, signed.user_id, path, target)
        return back(request, note=f"Renamed to {files.name_of(target)}.")

    async def move(self, request: Request, signed: Signed) -> Response:
        f = form(request)
        path = files.checked(f.get("path", ""))
        folder = files.checked(f.get("to", ""))
        target = files.join(folder, files.name_of(path))
        await run_in_threadpool(files.move, self.ctx, signed.user_id, path, target)
        return back(request, note=f"Moved to /{folder}.")

    async def delete(self, request: Request, signed: Signed) -> Response:
        path = files.checked(form(request).get("path", ""))
        await run_in_threadpool(files.delete, self.ctx, signed.user_id, path)
        return back(request, note=f"Moved {files.name_of(path)} to the deleted files.")

    async def versions(self, request: Request, signed: Signed) -> Response:
        path = files.checked(request.path_params["path"])
        found = await run_in_threadpool(self.ctx.meta.revisions, signed.user_id, path)
        if not found:
            raise ActionFailed("No such file.", 404)
        current = await run_in_threadpool(self.ctx.meta.entry, signed.user_id, path)
        return self.web.render(request, "versions.html", signed, page="files", title=f"Versions of "
                               f"{files.name_of(path)}", path=path, revisions=found,
                               current=current.rev if current else None, parent=files.parent(path))

    async def restore(self, request: Request, signed: Signed) -> Response:
        f = form(request)
        try:
            rev = int(f.get("rev", ""))
        except ValueError:
            raise ActionFailed("Which version?") from None
        entry = await run_in_threadpool(files.restore, self.ctx, signed.user_id, f.get("path", ""), rev)
        return back(request, note=f"Restored {files.name_of(entry.path)} (now version {entry.rev}).")

    async def trash(self, request: Request, signed: Signed) -> Response:
        since = now_ms() - self.ctx.config.retention_ms
        found = await run_in_threadpool(self.ctx.meta.deleted, signed.user_id, None, since)
        days = self.ctx.config.retention_ms / 86_400_000
        return self.web.render(request, "trash.html", signed, page="trash", title="Deleted files", entries=found,
                               days=f"{days:g}")

    async def undelete(self, request: Request, signed: Signed) -> Response:
        since = now_ms() - self.ctx.config.retention_ms
        path = form(request).get("path", "")
        count = await run_in_threadpool(files.restore_deleted, self.ctx, signed.user_id, path, since)
        return to("trash", note=f"Restored {files.name_of(path)}" + (f" and {count - 1} more." if count > 1 else "."))


