"""Small helpers shared by the route modules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ferrysync.server.errors import ApiError
from ferrysync.server.paths import PathError, validate_path
from ferrysync.server.store.base import OpFail, OpOk, OpResult, Revision


def iso(ms: int | None) -> str | None:
    """Milliseconds since the epoch as an RFC 3339 UTC timestamp (what the API shows for times)."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def checked_path(path: str, what: str = "path") -> str:
    try:
        return validate_path(path)
    except PathError as exc:
        raise ApiError(400, "bad_path", f"{what}: {exc}", path=_printable(path)) from None


def _printable(path: str) -> str:
    return path.encode("utf-8", "backslashreplace").decode("utf-8")[:300]


def result_json(result: OpResult) -> dict[str, Any]:
    if isinstance(result, OpOk):
        return {"ok": True, "entry": result.entry.to_json()}
    assert isinstance(result, OpFail)
    out: dict[str, Any] = {"ok": False, "code": result.code, "message": result.message}
    if result.code in ("conflict", "not_empty"):
        out["current"] = result.current.to_json() if result.current is not None else None
    if result.code == "missing_blocks":
        out["missing"] = list(result.missing)
    return out


def revision_json(rev: Revision) -> dict[str, Any]:
    return {
        "rev": rev.rev, "file_id": rev.file_id, "kind": rev.kind, "size": rev.size,
        "content_hash": rev.content_hash, "blocks": list(rev.blocks), "mtime_ns": rev.mtime_ns,
        "executable": rev.executable, "deleted": rev.deleted, "modified_by": rev.modified_by,
        "created_at": iso(rev.created_at),
    }
