"""Rules for user accounts shared by the operator commands (server/cli.py) and the web app's admin page."""

from __future__ import annotations

import re

from ferrysync.server.limits import MAX_INT, MAX_NAME_CHARS

_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2, "mib": 1024**2,
          "g": 1024**3, "gb": 1000**3, "gib": 1024**3, "t": 1024**4, "tb": 1000**4, "tib": 1024**4}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")
UNLIMITED = ("", "none", "unlimited", "off")


def valid_user_name(name: str) -> bool:
    return bool(name) and len(name) <= MAX_NAME_CHARS and not any(ord(c) < 0x20 for c in name)


def parse_quota(text: str) -> int | None:
    """`10GiB`, `500 MB`, `2g`, `1048576` → bytes; `none`/`unlimited`/empty → None (no limit)."""
    if text.strip().lower() in UNLIMITED:
        return None
    match = _SIZE.fullmatch(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(f"not a size: {text!r} (say e.g. 10GiB, 500MB or none)")
    value = int(float(match.group(1)) * _UNITS[unit])
    if value > MAX_INT:
        raise ValueError(f"{text!r} is too large")
    return value
