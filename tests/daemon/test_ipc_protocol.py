"""The control channel's parser and encoder: every input gets a valid request or a well-formed error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrysync.daemon.ipc.protocol import (
    ERROR_CODES,
    MAX_LINE,
    METHOD_PARAMS,
    IpcError,
    RejectedRequest,
    Request,
    encode_error,
    encode_event,
    encode_request,
    encode_result,
    parse_message,
    parse_request,
    response_result,
    setting_from_text,
)


def req(obj: object) -> bytes:
    return json.dumps(obj).encode()


def error_of(line: bytes) -> RejectedRequest:
    result = parse_request(line)
    assert isinstance(result, RejectedRequest), result
    return result


def test_valid_request_round_trips() -> None:
    line = encode_request(7, "folder_add", {"local": "/home/u/Docs", "remote": "/Docs"})
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert parse_request(line[:-1]) == Request(7, "folder_add", {"local": "/home/u/Docs", "remote": "/Docs"})


def test_params_default_to_empty_and_string_ids_work() -> None:
    assert parse_request(req({"v": 1, "id": "a", "method": "status"})) == Request("a", "status", {})


@pytest.mark.parametrize(
    ("line", "code", "rid"),
    [
        (b"not json", "bad_request", None),
        (b"\xff\xfe{}", "bad_request", None),
        (b"[1, 2]", "bad_request", None),
        (b'{"v": 1, "id": 1, "method": "status", "x": NaN}', "bad_request", None),
        (b"[" * 100_000, "bad_request", None),
        (req({"v": 1, "id": True, "method": "status"}), "bad_request", None),
        (req({"v": 1, "id": 1.5, "method": "status"}), "bad_request", None),
        (req({"id": 3, "method": "status"}), "bad_request", 3),
        (req({"v": 2, "id": 3, "method": "status"}), "unsupported_version", 3),
        (req({"v": True, "id": 3, "method": "status"}), "unsupported_version", 3),
        (req({"v": 1, "id": 3, "method": ""}), "bad_request", 3),
        (req({"v": 1, "id": 3, "method": 5}), "bad_request", 3),
        (req({"v": 1, "id": 3, "method": "status", "params": []}), "bad_request", 3),
        (req({"v": 1, "id": 3, "method": "folder_add", "params": {}}), "bad_request", 3),
        (req({"v": 1, "id": 3, "method": "folder_add", "params": {"local": 5}}), "bad_request", 3),
        (req({"v": 1, "id": 3, "method": "status", "params": {"verbose": True}}), "bad_request", 3),
        (req({"v": 1, "id": 3, "method": "activity", "params": {"limit": "10"}}), "bad_request", 3),
        (req({"v": 1, "id": 3, "method": "activity", "params": {"limit": 0}}), "bad_request", 3),
        (req({"v": 1, "id": 3, "method": "subscribe", "params": {"events": "status"}}), "bad_request", 3),
        (
            req({"v": 1, "id": 3, "method": "settings_set", "params": {"key": "nope", "value": 1}}),
            "bad_request",
            3,
        ),
        (
            req({"v": 1, "id": 3, "method": "settings_set", "params": {"key": "notifications", "value": 1}}),
            "bad_request",
            3,
        ),
        (
            req(
                {
                    "v": 1,
                    "id": 3,
                    "method": "settings_set",
                    "params": {"key": "delete_threshold_ratio", "value": 1.5},
                }
            ),
            "bad_request",
            3,
        ),
        (b" " * (MAX_LINE + 1), "too_large", None),
    ],
)
def test_malformed_requests_get_the_documented_error(line: bytes, code: str, rid: object) -> None:
    err = error_of(line)
    assert (err.code, err.id) == (code, rid)
    assert err.message


def test_unknown_methods_pass_the_parser_for_the_server_to_judge() -> None:
    assert parse_request(req({"v": 1, "id": 1, "method": "reindex", "params": {"deep": True}})) == Request(
        1, "reindex", {"deep": True}
    )


def test_settings_are_typed_by_key() -> None:
    assert setting_from_text("upload_limit_kbps", "250") == 250
    assert setting_from_text("notifications", "off") is False
    assert setting_from_text("delete_threshold_ratio", "0.25") == 0.25
    assert setting_from_text("conflict_host_name", "my laptop") == "my laptop"
    for key, text in [
        ("upload_limit_kbps", "-1"),
        ("upload_limit_kbps", "fast"),
        ("notifications", "maybe"),
        ("delete_threshold_count", "0"),
        ("delete_threshold_ratio", "2"),
        ("colour", "red"),
    ]:
        with pytest.raises(ValueError, match=key):
            setting_from_text(key, text)


def test_responses_decode_to_results_or_typed_errors() -> None:
    assert response_result(parse_message(encode_result(1, {"paused": True})[:-1])) == {"paused": True}
    with pytest.raises(IpcError) as info:
        response_result(parse_message(encode_error(1, "not_found", "no such folder")[:-1]))
    assert (info.value.code, info.value.message) == ("not_found", "no such folder")
    for bad in (b"{", b'{"v": 1, "ok": true}', b'{"v": 9, "ok": true, "result": {}}', b"\xff"):
        with pytest.raises(IpcError) as info:
            response_result(parse_message(bad))
        assert info.value.code == "bad_response"


def test_encoding_refuses_what_json_cannot_carry() -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        encode_event("status", {"speed": float("nan")})
    with pytest.raises(TypeError):
        encode_result(1, {"when": object()})
    assert b"\n" not in encode_event("status", {"message": "line\nbreak"})[:-1]


# --- fuzzing: never an exception, always a valid request or a well-formed error ----------------------------


def _check(line: bytes) -> None:
    result = parse_request(line)
    if isinstance(result, RejectedRequest):
        assert result.code in ERROR_CODES
        assert isinstance(result.message, str)
        assert result.message
        assert result.id is None or (isinstance(result.id, int | str) and not isinstance(result.id, bool))
        # the error itself must encode to one valid line
        encoded = encode_error(result.id, result.code, result.message)
        assert encoded.count(b"\n") == 1
    else:
        assert isinstance(result, Request)
        assert isinstance(result.method, str)
        assert result.method
        assert isinstance(result.params, dict)
        encode_result(result.id, {})


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=512))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    _check(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=250, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "v": st.sampled_from([1, 2, True, "1", None]) | json_values,
            "id": st.integers() | st.text(max_size=8) | json_values,
            "method": st.sampled_from(sorted(METHOD_PARAMS)) | st.text(max_size=12) | json_values,
            "params": st.dictionaries(
                st.sampled_from(
                    [
                        "local",
                        "remote",
                        "id",
                        "key",
                        "value",
                        "limit",
                        "events",
                        "path",
                        "rev",
                        "secret",
                        "folder_id",
                        "x",
                    ]
                ),
                json_values,
                max_size=4,
            )
            | json_values,
        },
    )
)
def test_fuzz_json_shaped_requests(obj: dict[str, Any]) -> None:
    _check(json.dumps(obj).encode())


@settings(max_examples=120, deadline=None)
@given(json_values)
def test_fuzz_any_json_value(value: object) -> None:
    _check(json.dumps(value).encode())
