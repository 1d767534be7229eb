"""Mapping between a folder's relative paths and the server's paths (the folder's remote prefix + path)."""

from __future__ import annotations


def normalize_prefix(remote: str) -> str:
    """'/Docs/' -> 'Docs'; '/' or '' -> '' (the account's root)."""
    return "/".join(p for p in remote.replace("\\", "/").split("/") if p)


def to_server(prefix: str, rel: str) -> str:
    return f"{prefix}/{rel}" if prefix else rel


def from_server(prefix: str, server_path: str) -> str | None:
    """The folder-relative path of a server path, or None when it lies outside the folder (or is its root)."""
    if not prefix:
        return server_path or None
    if server_path.startswith(prefix + "/"):
        return server_path[len(prefix) + 1 :]
    return None
