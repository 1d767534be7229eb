"""Every daemon setting, declared once: the config file, the control channel, `ferry settings` and the docs read it.

The settings used to be described four times (the config parser, the IPC schema, the CLI, a docs table) and the
copies drifted: the IPC accepted a ratio of 0 that the config file then refused to save, and a count of 0 that the
file accepted was refused over IPC. Here each setting says its type, default, allowed values, whether a running
daemon can change it, and what it is for; `config.py` builds and checks `Settings` from it, `ipc/protocol.py` checks
`settings_set` with it, the CLI lists and parses with it, and a test holds the user guide's table to it.

The tray imports the IPC protocol and hence this module, so it stays I/O-free and imports the standard library only.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

_KINDS: dict[type, str] = {bool: "bool", int: "int", float: "float", str: "str"}


def _bool_text(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _num(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class Setting:
    """One setting. Bounds and choices are data, not code, so the docs and the CLI can say them too."""

    name: str
    type: type  # bool, int, float or str: what TOML and JSON carry (an int is accepted for a float)
    default: Any
    help: str  # one line for `ferry settings` and the docs table
    live: bool = False  # a running daemon applies it: `settings_get`/`settings_set` (and so the CLI) offer it
    minimum: float | None = None
    maximum: float | None = None
    above_minimum: bool = False  # the minimum itself is excluded
    choices: tuple[str, ...] = ()
    max_len: int | None = None
    optional: bool = False  # may be unset (None); TOML has no null, so an unset setting is absent from the file
    in_config: bool = True  # False: kept elsewhere (start_at_login is the OS's autostart entry)
    normalise: Callable[[Any], Any] | None = None  # canonical form of a well-typed value; ValueError if bad
    default_factory: Callable[[], Any] | None = None  # a default that depends on the machine
    default_doc: str = ""  # how the docs show a default_factory's value

    @property
    def kind(self) -> str:
        return _KINDS[self.type]

    def default_value(self) -> Any:
        return self.default_factory() if self.default_factory is not None else self.default

    def check(self, value: object) -> Any:
        """The value in its canonical form; ValueError with a reason a user can act on (the caller adds the key)."""
        if value is None and self.optional:
            return None
        # bool is an int subclass: `upload_limit_kbps = true` must be refused, as must `notifications = 1`.
        ok = isinstance(value, int | float) if self.type is float else isinstance(value, self.type)
        if not ok or (isinstance(value, bool) and self.type is not bool):
            raise ValueError(f"expected {self.kind}, got {type(value).__name__} {value!r}")
        out: Any = float(cast(float, value)) if self.type is float else value
        if self.normalise is not None:
            out = self.normalise(out)
        if self.choices and out not in self.choices:
            raise ValueError(f"must be one of: {', '.join(self.choices)}")
        if self.max_len is not None and len(out) > self.max_len:
            raise ValueError(f"must be at most {self.max_len} characters")
        if self.type in (int, float) and not self._in_range(out):
            raise ValueError(f"must be {self.range_text()}")
        return out

    def _in_range(self, v: float) -> bool:
        if v != v:  # NaN (TOML has nan) compares false with everything, so it would pass any bound
            return False
        lo, hi = self.minimum, self.maximum
        if lo is not None and (v <= lo if self.above_minimum else v < lo):
            return False
        return hi is None or v <= hi

    def range_text(self) -> str:
        """The allowed numbers, worded as in the error messages: '>= 0', '> 0', 'in (0, 1]'."""
        lo, hi = self.minimum, self.maximum
        if lo is not None and hi is not None:
            return f"in {'(' if self.above_minimum else '['}{_num(lo)}, {_num(hi)}]"
        if lo is not None:
            return f"{'>' if self.above_minimum else '>='} {_num(lo)}"
        return f"<= {_num(hi)}" if hi is not None else "any number"

    def type_text(self) -> str:
        """Type and allowed values in words, for `ferry settings list`, the CLI's errors and the docs."""
        if self.choices:
            text = f"one of {', '.join(self.choices)}"
        elif self.type in (int, float) and (self.minimum is not None or self.maximum is not None):
            text = f"{self.kind} {self.range_text()}"
        elif self.max_len is not None:
            text = f"{self.kind} of at most {self.max_len} characters"
        else:
            text = self.kind
        return f"{text}, or unset" if self.optional else text

    def default_text(self) -> str:
        """The default as one would write it in config.toml (or in words when it depends on the machine)."""
        if self.default_factory is not None:
            return self.default_doc
        v = self.default
        if v is None:
            return "unset"
        if isinstance(v, bool):
            return "true" if v else "false"
        return json.dumps(v) if isinstance(v, str) else _num(v)

    def from_text(self, text: str) -> object:
        """What a user typed on the command line, as this setting's JSON type (not yet range-checked)."""
        if self.type is bool:
            return _bool_text(text)
        if self.type is int:
            return int(text.strip())
        if self.type is float:
            return float(text.strip())
        return text


def _tls_pin(value: str) -> str:
    norm = value.replace(":", "").lower()
    if len(norm) != 64 or any(c not in "0123456789abcdef" for c in norm):
        raise ValueError("must be 64 hex digits (colons allowed)")
    return norm


SCHEMA: tuple[Setting, ...] = (
    Setting("upload_limit_kbps", int, 0, "upload bandwidth limit in KB/s (0 = unlimited)", live=True, minimum=0),
    Setting("download_limit_kbps", int, 0, "download bandwidth limit in KB/s (0 = unlimited)", live=True, minimum=0),
    Setting("notifications", bool, True, "desktop notifications on or off", live=True),
    Setting("delete_threshold_count", int, 50, "hold a batch that deletes more files than this until you approve it",
            live=True, minimum=1),
    Setting("delete_threshold_ratio", float, 0.5,
            "hold a batch that deletes at least 5 files and more than this fraction of a folder's files",
            live=True, minimum=0.0, above_minimum=True, maximum=1.0),
    Setting("start_at_login", bool, False, "start the daemon and the tray when you log in (kept by the OS, not in "
            "config.toml)", live=True, in_config=False),
    Setting("conflict_host_name", str, None, "the name used in conflicted-copy file names", live=True, max_len=255,
            default_factory=socket.gethostname, default_doc="this computer's host name"),
    Setting("tls_pin_sha256", str, None, "accept only the server certificate with this SHA-256 fingerprint "
            "(`ferry login --pin`)", optional=True, normalise=_tls_pin),
    Setting("tls_ca_file", str, None, "a PEM file of the CA (or self-signed certificate) to trust for the server "
            "(`ferry login --cafile`)", optional=True),
    Setting("embedded", bool, False, "the daemon runs its own local cloud (set by `ferry up`)"),
    Setting("credentials_store", str, "keyring",
            "where the device token is kept: keyring = the OS keyring, file = a file only you can read",
            choices=("keyring", "file")),
    Setting("quiet_period_s", float, 0.3, "seconds a path must be free of events before it is hashed", minimum=0.0),
    Setting("name_rules", str, "auto", "which file names the disk can hold: auto probes the disk; windows suits "
            "e.g. an exFAT or NTFS disk", live=True, choices=("auto", "windows", "macos", "linux")),
    Setting("trash", str, "os", "where Ferry puts files it deletes locally: os = the system trash, folder = "
            "the folder's .ferry/trash", live=True, choices=("os", "folder")),
    Setting("rescan_interval_s", float, 3600.0, "seconds between safety-net rescans of each folder (jittered)",
            minimum=0.0, above_minimum=True),
    Setting("log_level", str, "INFO", "how much the daemon logs (DEBUG explains every plan)",
            choices=("DEBUG", "INFO", "WARNING", "ERROR"), normalise=str.upper),
)

# Consumers look settings up here when they run, never copy them at import: then this table is all there is (a
# test narrows a declaration on the fly and watches the file, the channel and the CLI follow).
BY_NAME: Mapping[str, Setting] = {s.name: s for s in SCHEMA}
LIVE: Mapping[str, Setting] = {s.name: s for s in SCHEMA if s.live}  # what settings_get/settings_set carry


def unknown(key: str, known: Mapping[str, Setting] = LIVE) -> ValueError:
    return ValueError(f"unknown setting {key!r} (known: {', '.join(sorted(known))})")


def not_live(key: str) -> ValueError:
    """Why `settings_set` refuses a setting that only config.toml holds, and what to do instead."""
    return ValueError(f"{key} is read when the daemon starts: edit [settings] in config.toml and restart Ferry")


def check_live(key: str, value: object) -> object:
    """The validated value of a setting a running daemon may change; ValueError naming the key otherwise."""
    setting = LIVE.get(key)
    if setting is None:
        raise not_live(key) if key in BY_NAME and BY_NAME[key].in_config else unknown(key)
    try:
        return setting.check(value)
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None


def live_from_text(key: str, text: str) -> object:
    """What a user typed for `key`, parsed by its type and validated; ValueError naming the key otherwise."""
    setting = LIVE.get(key)
    if setting is None:
        raise not_live(key) if key in BY_NAME and BY_NAME[key].in_config else unknown(key)
    try:
        value = setting.from_text(text)
    except ValueError:
        raise ValueError(f"{key}: cannot read {text!r} (expected {setting.type_text()})") from None
    return check_live(key, value)


def markdown_table() -> list[str]:
    """The settings table of docs/user-guide.md, row for row (a test holds the guide to it)."""
    rows = ["| setting | type | default | changed while running | what it does |", "| --- | --- | --- | --- | --- |"]
    for s in BY_NAME.values():
        live = "yes (`ferry settings set`)" if s.live else "no (edit config.toml, restart)"
        default = s.default_text() if s.default_factory is not None or s.default is None else f"`{s.default_text()}`"
        rows.append(f"| `{s.name}` | {s.type_text()} | {default} | {live} | {s.help} |")
    return rows
