"""The control channel's share-link methods: `share`, `shares`, `unshare` (docs/ipc.md).

They pass through to the server (POST/GET/DELETE /v1/shares) with the daemon's device token, so the CLI and the
tray never hold a token. `share` takes a local path inside a synced folder (mapped to the server path through the
folder's remote prefix), or else `remote`, a path in the account's cloud storage as the user typed it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ferrysync.daemon.engine.engine import Engine
from ferrysync.daemon.engine.folder import FolderSync
from ferrysync.daemon.ipc.protocol import IpcError
from ferrysync.daemon.local.names import check_server_path, nfc
from ferrysync.daemon.remote import BadRequest, NotFound
from ferrysync.daemon.remote.mapping import normalize_prefix, to_server

Handler = Callable[[Mapping[str, Any]], Mapping[str, Any]]
Locate = Callable[[Engine, str], tuple[FolderSync, str]]


def _refuse_encrypted(folder: FolderSync, what: object) -> None:
    """A link is served by the server, which holds only ciphertext of an end-to-end encrypted folder."""
    if folder.cfg.encrypted:
        raise IpcError("bad_request", f"{what} is in the end-to-end encrypted folder {folder.root}: the server holds "
                                      "only its ciphertext, so a link could not show it (docs/encryption.md)")


def server_path_of(engine: Engine, locate: Locate, local: object, remote: object) -> str:
    """The server path a `share` request names: its local path when that lies in a synced folder, else `remote`.
    Nothing in an end-to-end encrypted folder can be shared by a link."""
    if isinstance(local, str) and local:
        root = next((f for f in engine.folders.values() if Path(local) == f.root), None)
        if root is not None:  # a synced folder itself: its remote folder
            _refuse_encrypted(root, local)
            if not root.ctx.prefix:
                raise IpcError("bad_request", f"{local} is synced with the whole account, which cannot be shared: "
                                              "share a file or folder inside it")
            return root.ctx.prefix
        try:
            f, rel = locate(engine, local)
        except ValueError:  # not inside a synced folder: `remote` may still name a server path
            pass
        else:
            _refuse_encrypted(f, local)
            return to_server(f.ctx.prefix, rel)
    if not isinstance(remote, str) or not normalize_prefix(remote):
        where = f"{local} is not inside a synced folder" if local else "share needs 'path' or 'remote'"
        raise IpcError("bad_request", where)
    server = nfc(normalize_prefix(remote))
    why = check_server_path(server)
    if why is not None:
        raise IpcError("bad_request", f"{remote}: not a path the server accepts: {why}")
    for f in engine.folders.values():
        if f.ctx.prefix and (server == f.ctx.prefix or server.startswith(f.ctx.prefix + "/")):
            _refuse_encrypted(f, remote)
    return server


def share_handlers(engine: Engine, locate: Locate) -> dict[str, Handler]:
    def share(params: Mapping[str, Any]) -> Mapping[str, Any]:
        server = server_path_of(engine, locate, params.get("path"), params.get("remote"))
        try:
            made = engine.client.create_share(server, expires_in=params.get("expires_in"),
                                              password=params.get("password"))
        except NotFound:
            raise IpcError("not_found", f"/{server} is not on the server (yet): share it once it has synced") from None
        except BadRequest as exc:
            raise IpcError("bad_request", exc.message) from None
        return {"url": made.url, "share": dataclasses.asdict(made.share)}

    def shares(_: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"shares": [dataclasses.asdict(s) for s in engine.client.shares()]}

    def unshare(params: Mapping[str, Any]) -> Mapping[str, Any]:
        share_id = str(params.get("id", ""))
        try:
            engine.client.revoke_share(share_id)
        except NotFound:
            raise IpcError("not_found", f"no share link {share_id!r} (see `ferry shares`)") from None
        return {}

    return {"share": share, "shares": shares, "unshare": unshare}
