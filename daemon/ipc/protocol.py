"""The control channel's wire format: parse, validate and encode, with no I/O (see docs/ipc.md).

One UTF-8 JSON object per line. Everything here is pure so it can be fuzzed: `parse_request` turns any bytes
into either a valid `Request` or a `RejectedRequest` that the server sends back; it never raises.
Shared by the server, the client, the CLI and the tray, so it imports the standard library only (and the
settings schema, which does too: what `settings_set` accepts is declared there, once, for the config file as well).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ferrysync.daemon.settings_schema import LIVE, Setting, check_live, live_from_text

PROTOCOL_VERSION = 1
MAX_LINE = 1024 * 1024  # a request line longer than this is refused with too_large and the connection closed

ERROR_CODES = frozenset(
    {
        "bad_request",
        "unknown_method",
        "unsupported_version",
        "unauthorized",
        "too_large",
        "not_found",
        "failed",
        "busy",
        "wrong_passphrase",
    }
)

RequestId = int | str | None


class IpcError(Exception):
    """An error the daemon answered with (or the client met); `code` is in ERROR_CODES or a client code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Request:
    id: RequestId
    method: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RejectedRequest:
    """A request that cannot be served; `id` is the request's id when it could be read, else None."""

    id: RequestId
    code: str
    message: str


# --- parameter and setting schemas --------------------------------------------------------------------------


def _is_id(v: object) -> bool:
    return isinstance(v, str | int) and not isinstance(v, bool)


def _is_limit(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 10_000


def _is_str_list(v: object) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _any(v: object) -> bool:
    return True


def _is_seconds(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 2**52


_CHECKS: dict[str, tuple[Callable[[object], bool], str]] = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "limit": (_is_limit, "an integer from 1 to 10000"),
    "any": (_any, "any JSON value"),
    "str_list": (_is_str_list, "a list of strings"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "id": (_is_id, "a string or an integer"),
    "seconds": (_is_seconds, "a whole number of seconds, 1 or more"),
}

# method -> {param: (check, required)}; methods not listed here (the daemon's own extras) take any object.
METHOD_PARAMS: dict[str, dict[str, tuple[str, bool]]] = {
    "hello": {"secret": ("str", False), "client": ("str", False)},
    "status": {},
    "pause": {"folder": ("str", False)},
    "resume": {"folder": ("str", False)},
    "folders": {},
    "stop": {},
    "login_reload": {},
    "wait_status": {},
    "subscribe": {"events": ("str_list", False)},
    "folder_add": {"local": ("str", True), "remote": ("str", False), "exclude": ("str_list", False),
                   "auto_include_new": ("bool", False), "encrypted": ("bool", False), "passphrase": ("str", False),
                   "recovery_key": ("str", False)},
    "folder_passphrase": {"folder": ("str", True), "old": ("str", True), "new": ("str", True)},
    "folder_set": {"folder": ("str", True), "auto_include_new": ("bool", True)},
    "exclude": {"folder": ("str", True), "path": ("str", True)},
    "include": {"folder": ("str", True), "path": ("str", True)},
    "excluded": {"folder": ("str", False)},
    "remote_dirs": {"folder": ("str", True), "path": ("str", False)},
    "folder_remove": {"id": ("id", True)},
    "settings_get": {},
    "settings_set": {"key": ("str", True), "value": ("any", True)},
    "conflicts": {},
    "errors": {},
    "name_issues": {},
    "deletions": {},
    "trash_list": {},
    "activity": {"limit": ("limit", False)},
    "deletions_approve": {"folder_id": ("id", False)},
    "deletions_reject": {"folder_id": ("id", False)},
    "versions": {"path": ("str", True)},
    "restore": {"path": ("str", True), "rev": ("id", False)},
    "trash_restore": {"path": ("str", True)},
    "conflict_resolve": {"path": ("str", True), "keep": ("str", True)},
    "devices": {},
    "device_revoke": {"device_id": ("str", True)},
    "ui_url": {},
    "share": {"path": ("str", False), "remote": ("str", False), "expires_in": ("seconds", False),
              "password": ("str", False)},
    "shares": {},
    "unshare": {"id": ("str", True)},
}

# The settings a client may read and change while the daemon runs: the schema's live ones.
SETTINGS: Mapping[str, Setting] = LIVE


def check_setting(key: str, value: object) -> object:
    """The validated value for `key`; raises ValueError with a clear reason that names the key."""
    return check_live(key, value)


def setting_from_text(key: str, text: str) -> object:
    """Parse what a user typed on the command line into the setting's JSON type, validated."""
    return live_from_text(key, text)


# --- parsing ------------------------------------------------------------------------------------------------


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _loads(text: str) -> object:
    return json.loads(text, parse_constant=_reject_constant)


def _valid_id(v: object) -> bool:
    return v is None or _is_id(v)


def validate_params(method: str, params: Mapping[str, object]) -> str | None:
    """A message saying what is wrong with `params` for `method`, or None when they are acceptable."""
    schema = METHOD_PARAMS.get(method)
    if schema is None:
        return None
    for name in params:
        if name not in schema:
            return f"unknown parameter {name!r} for {method}"
    for name, (check, required) in schema.items():
        if name not in params:
            if required:
                return f"missing parameter {name!r} for {method}"
            continue
        test, what = _CHECKS[check]
        if not test(params[name]):
            return f"parameter {name!r} of {method} must be {what}"
    if method == "settings_set":
        try:
            check_setting(str(params["key"]), params["value"])
        except ValueError as exc:
            return str(exc)
    return None


def parse_request(line: bytes) -> Request | RejectedRequest:
    """Any bytes (one line, no newline) -> a valid Request or the error to answer with. Never raises."""
    if len(line) > MAX_LINE:
        return RejectedRequest(None, "too_large", f"request longer than {MAX_LINE} bytes")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return RejectedRequest(None, "bad_request", "request is not valid UTF-8")
    try:
        obj = _loads(text)
    except (ValueError, RecursionError):
        return RejectedRequest(None, "bad_request", "request is not valid JSON")
    if not isinstance(obj, dict):
        return RejectedRequest(None, "bad_request", "request must be a JSON object")
    rid = obj.get("id")
    if not _valid_id(rid):
        return RejectedRequest(None, "bad_request", "'id' must be an integer or a string")
    if "v" not in obj:
        return RejectedRequest(rid, "bad_request", "missing 'v' (protocol version)")
    if obj["v"] != PROTOCOL_VERSION or isinstance(obj["v"], bool):
        return RejectedRequest(rid, "unsupported_version", f"this daemon speaks protocol {PROTOCOL_VERSION}")
    method = obj.get("method")
    if not isinstance(method, str) or not method:
        return RejectedRequest(rid, "bad_request", "'method' must be a non-empty string")
    params = obj.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return RejectedRequest(rid, "bad_request", "'params' must be an object")
    problem = validate_params(method, params)
    if problem is not None:
        return RejectedRequest(rid, "bad_request", problem)
    return Request(rid, method, params)


def parse_message(line: bytes) -> dict[str, Any]:
    """Client side: a response or event line -> its object; IpcError("bad_response") when malformed."""
    try:
        obj = _loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise IpcError("bad_response", "the daemon sent a line that is not JSON") from None
    if not isinstance(obj, dict) or obj.get("v") != PROTOCOL_VERSION:
        raise IpcError("bad_response", "the daemon sent a message this client does not understand")
    return obj


def response_result(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The result of a response object, or raise the IpcError it carries."""
    if obj.get("ok") is True and isinstance(obj.get("result"), dict):
        return dict(obj["result"])
    err = obj.get("error")
    if obj.get("ok") is False and isinstance(err, dict):
        return_code = err.get("code") if isinstance(err.get("code"), str) else "failed"
        message = err.get("message") if isinstance(err.get("message"), str) else "no message"
        raise IpcError(str(return_code), str(message))
    raise IpcError("bad_response", "the daemon sent a malformed response")


# --- encoding -----------------------------------------------------------------------------------------------


def _dumps(obj: object) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n").encode(
        "utf-8"
    )


def encode_request(rid: RequestId, method: str, params: Mapping[str, object]) -> bytes:
    return _dumps({"v": PROTOCOL_VERSION, "id": rid, "method": method, "params": dict(params)})


def encode_result(rid: RequestId, result: Mapping[str, object]) -> bytes:
    """A success line; raises TypeError/ValueError when `result` is not JSON-encodable."""
    return _dumps({"v": PROTOCOL_VERSION, "id": rid, "ok": True, "result": dict(result)})


def encode_error(rid: RequestId, code: str, message: str) -> bytes:
    return _dumps(
        {"v": PROTOCOL_VERSION, "id": rid, "ok": False, "error": {"code": code, "message": message}}
    )


def encode_event(event: str, data: object) -> bytes:
    """An event line; raises TypeError/ValueError when `data` is not JSON-encodable."""
    return _dumps({"v": PROTOCOL_VERSION, "event": event, "data": data})
