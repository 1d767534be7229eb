"""Human-readable text for the CLI: pure functions from the daemon's JSON objects to lines (no I/O)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any


def human_bytes(n: float | int | None) -> str:
    """Decimal units, as file managers and the daemon's own messages show them: 3.4 MB."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def human_speed(bps: float | int | None) -> str:
    return f"{human_bytes(bps)}/s"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def human_time(ts: float | None, now: float | None = None) -> str:
    """'never', 'just now', '5 minutes ago (14:25)' or a date for anything older than a day."""
    if ts is None:
        return "never"
    now = time.time() if now is None else now
    ago = now - ts
    clock = time.strftime("%H:%M", time.localtime(ts))
    if ago < 0 or ago >= 86400:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))
    if ago < 60:
        return f"just now ({clock})"
    if ago < 3600:
        return f"{plural(int(ago // 60), 'minute')} ago ({clock})"
    return f"{plural(int(ago // 3600), 'hour')} ago ({clock})"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Left-aligned columns, two spaces apart; the last column is never padded."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = []
    for r in cells:
        padded = [c.ljust(widths[i]) for i, c in enumerate(r[:-1])] + [r[-1]]
        out.append("  ".join(padded).rstrip())
    return out


def _pending(p: Mapping[str, Any] | None) -> str:
    p = p or {}
    count = int(p.get("count", 0) or 0)
    return f"{plural(count, 'file')} ({human_bytes(p.get('bytes', 0))})" if count else "nothing"


def _transfer(t: Mapping[str, Any]) -> str:
    done, total = int(t.get("bytes_done", 0) or 0), int(t.get("bytes_total", 0) or 0)
    pct = f"{100 * done // total:3d}%" if total else "   ?"
    return (
        f"  {t.get('direction', '?'):<4} {pct}  {human_bytes(done)} of {human_bytes(total)}"
        f"  {human_speed(t.get('speed'))}  {t.get('path', '')}"
    )


def status_lines(s: Mapping[str, Any], now: float | None = None) -> list[str]:
    """The whole `ferry status` screen, attention items first after the headline."""
    state = str(s.get("state", "?"))
    lines = [f"{s.get('message') or state}  [{state}]"]
    if state == "offline" and s.get("retry_in") is not None:
        lines.append(f"Offline: retrying in {float(s['retry_in']):.0f} s")
    attention = []
    for key, label, hint in (
        ("conflicts", "conflict", "ferry conflicts"),
        ("errors", "error", "ferry errors"),
        ("name_issues", "name issue", "ferry errors"),
        ("deletions_pending", "deletion waiting for approval", "ferry deletions list"),
    ):
        n = int(s.get(key, 0) or 0)
        if n:
            attention.append(f"  {plural(n, label)} (see `{hint}`)")
    if attention:
        lines += ["Needs attention:", *attention]
    lines.append(f"Pending:    up {_pending(s.get('pending_up'))}, down {_pending(s.get('pending_down'))}")
    if s.get("speed_up") or s.get("speed_down"):
        lines.append(
            f"Speed:      up {human_speed(s.get('speed_up'))}, down {human_speed(s.get('speed_down'))}"
        )
    transfers = s.get("transfers") or []
    if transfers:
        lines.append("Transfers:")
        lines += [_transfer(t) for t in transfers]
    folders = s.get("folders") or []
    if folders:
        lines.append("Folders:")
        lines += [
            "  " + ln
            for ln in table(
                ["ID", "LOCAL", "REMOTE", "STATE", "MESSAGE"],
                [
                    [f.get("id"), f.get("local"), f.get("remote"), f.get("state"), f.get("message")]
                    for f in folders
                ],
            )
        ]
    else:
        lines.append("Folders:    none (add one with `ferry folder add PATH`)")
    for f in folders:
        excluded = f.get("excluded") or []
        if excluded:
            kept = int(f.get("kept", 0) or 0)
            also = f"; {plural(kept, 'file')} kept on this disk inside them" if kept else ""
            lines.append(f"Excluded:   {len(excluded)} paths in {f.get('local')}{also} (see `ferry excluded`)")
    lines.append(f"Last sync:  {human_time(s.get('last_sync'), now)}")
    account = s.get("account")
    if account:
        files = plural(int(account.get("files", 0) or 0), "file")
        where = f" on {s['server']}" if s.get("server") else ""
        # counted before the last sync finished: the daemon reads it again within seconds; say so rather than
        # show a stale count beside "Up to date"
        stale = " (updating)" if (account.get("read_at") or 0) < (s.get("last_sync") or 0) else ""
        lines.append(f"Account:    {human_bytes(account.get('bytes'))} in {files}{where}{stale}")
    elif s.get("server"):
        lines.append(f"Server:     {s['server']}")
    if s.get("paused"):
        lines.append("Paused: run `ferry resume` to continue syncing.")
    return lines


def progress_line(s: Mapping[str, Any], baseline: int, width: int = 30) -> str:
    """One line for `ferry wait` on a terminal: a bar of how much of the largest backlog seen is done."""
    up, down = s.get("pending_up") or {}, s.get("pending_down") or {}
    left_count = int(up.get("count", 0) or 0) + int(down.get("count", 0) or 0)
    left_bytes = int(up.get("bytes", 0) or 0) + int(down.get("bytes", 0) or 0)
    total = max(baseline, left_count, 1)
    filled = round(width * (total - left_count) / total)
    bar = "#" * filled + "-" * (width - filled)
    return f"[{bar}] {plural(left_count, 'file')} ({human_bytes(left_bytes)}) left  {s.get('message', '')}"


def setting_lines(settings: Mapping[str, Any]) -> list[str]:
    return [f"{k} = {setting_text(v)}" for k, v in sorted(settings.items())]


def setting_text(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "null" if v is None else str(v)


def rows_of(
    items: Sequence[Mapping[str, Any]], columns: Sequence[str], formats: Mapping[str, Any] | None = None
) -> list[list[object]]:
    """Pick `columns` from each item, formatting the ones named in `formats` (column -> fn(value) -> str)."""
    formats = formats or {}
    return [[formats[c](it.get(c)) if c in formats else it.get(c) for c in columns] for it in items]
