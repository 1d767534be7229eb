"""Words and numbers as the tray shows them: speeds, counts, ages, names. Pure functions, no I/O."""

from __future__ import annotations

import math
import posixpath
from collections.abc import Mapping
from typing import Any

_UNITS = ("B", "kB", "MB", "GB", "TB")


def human_bytes(n: float) -> str:
    """Decimal units, as file managers show them: 950 B, 3.4 MB, 12 MB (one decimal only below 10)."""
    value = max(0.0, float(n))
    unit = 0
    while value >= 1000 and unit < len(_UNITS) - 1:
        value /= 1000
        unit += 1
    if unit == 0:
        return f"{int(value)} B"
    text = f"{value:.1f}" if value < 9.95 else f"{value:.0f}"
    return f"{text} {_UNITS[unit]}"


def human_speed(bytes_per_second: float) -> str:
    return f"{human_bytes(bytes_per_second)}/s"


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def seconds_left(total: float) -> int:
    """Whole seconds still to wait, rounded up so a countdown never shows 0 while time remains."""
    return max(0, math.ceil(total - 1e-9))


def ago(then: float, now: float) -> str:
    """'just now', '5 min ago', '3 h ago', '2 days ago' — coarse on purpose: a menu is not a log."""
    delta = max(0.0, now - then)
    if delta < 60:
        return "just now"
    if delta < 3600:
        return f"{int(delta // 60)} min ago"
    if delta < 86400:
        return f"{int(delta // 3600)} h ago"
    return plural(int(delta // 86400), "day") + " ago"


def limit_label(kbps: int) -> str:
    """A bandwidth limit setting (kB/s, 0 = unlimited) in words."""
    if kbps <= 0:
        return "Unlimited"
    if kbps >= 1000 and kbps % 100 == 0:
        return f"{kbps / 1000:g} MB/s"
    return f"{kbps} kB/s"


def basename(path: str) -> str:
    """Last component of a sync path (always '/'-separated on the wire) or of a local path."""
    trimmed = path.rstrip("/\\") or path
    return posixpath.basename(trimmed.replace("\\", "/")) or trimmed


def short(text: str, limit: int = 60) -> str:
    """Menus do not wrap: cut long names in the middle, where they are least informative."""
    if len(text) <= limit:
        return text
    keep = limit - 1
    head = keep - keep // 2
    return text[:head] + "…" + text[len(text) - keep // 2:]


def as_int(obj: Mapping[str, Any] | None, key: str) -> int:
    """An int field of a daemon object; 0 when missing or of the wrong type (a newer or older daemon)."""
    value = obj.get(key) if obj else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return int(value)


def as_float(obj: Mapping[str, Any] | None, key: str) -> float | None:
    value = obj.get(key) if obj else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def as_str(obj: Mapping[str, Any] | None, key: str) -> str:
    value = obj.get(key) if obj else None
    return value if isinstance(value, str) else ""


def as_dict(obj: Mapping[str, Any] | None, key: str) -> Mapping[str, Any]:
    value = obj.get(key) if obj else None
    return value if isinstance(value, Mapping) else {}
