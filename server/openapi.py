"""The served OpenAPI document, adjusted to what the server really answers.

FastAPI documents validation errors as 422 with its own body; Ferry answers 400 with the contract's error shape.
This rewrites every operation's error responses accordingly and adds 401 (bearer-protected operations) and
413 (operations with a body).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
    }},
}
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_DEFAULT_TEXT = {"400": "bad input (the error code says which: bad_request, bad_path, hash_mismatch, ...)",
                 "401": "missing, invalid or revoked device token", "413": "body over the documented limit"}


def install_openapi(app: FastAPI) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas["Error"] = ERROR_SCHEMA
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        for methods in doc.get("paths", {}).values():
            for method, op in methods.items():
                _fix_operation(method, op)
        app.openapi_schema = doc
        return doc

    app.openapi = build  # type: ignore[method-assign]


def _fix_operation(method: str, op: dict[str, Any]) -> None:
    responses: dict[str, Any] = op.setdefault("responses", {})
    responses.pop("422", None)
    wanted = ["400"]
    if op.get("security"):
        wanted.append("401")
    if method in ("post", "put"):
        wanted.append("413")
    for status in wanted:
        responses.setdefault(status, {"description": _DEFAULT_TEXT[status]})
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            response.setdefault("description", "error")
            response["content"] = _ERROR_CONTENT
