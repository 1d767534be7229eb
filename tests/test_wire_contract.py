"""The HTTP API is the daemon's and the server's only contract (docs/api.md, "Where the contract lives").

The two packages share no code, so this is where their wire facts meet: every request the daemon's RemoteClient
sends is validated by the server's own request models, every answer by the server's response models (strictly:
the routes answer with plain JSON, so nothing else checks that they match what /openapi.json says) and by the
daemon's parsers; commit-op kinds, fields and failure codes, the content-hash rule and the limits are compared
side by side. A drift on either side fails here, not in the field.
"""

from __future__ import annotations

import json
import random
import re
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi.routing import APIRoute
from pydantic import BaseModel
from util import ServerProcess

from ferrysync.daemon.local import chunker, names
from ferrysync.daemon.remote import NotFound, RemoteClient
from ferrysync.daemon.remote import limits as daemon_limits
from ferrysync.daemon.remote.client import commit_bodies
from ferrysync.daemon.remote.types import COMMIT_FAILURES, COMMIT_OPS, CommitOp, DeleteOp, MkdirOp, MoveOp, PutOp
from ferrysync.server import hashing
from ferrysync.server import models as server_models
from ferrysync.server.limits import PUBLISHED
from ferrysync.server.routes import account, blocks, changes, history, shares, tree
from ferrysync.server.store import base as store
from ferrysync.server.web import chunking as server_chunking

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api.md"
ROUTES: list[APIRoute] = [r for m in (account, blocks, tree, changes, history, shares) for r in m.router.routes
                          if isinstance(r, APIRoute)]

# -- the content-hash rule: one definition per side, both equal to known vectors -------------------------------

EMPTY = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"  # BLAKE3(b"")
ABC = "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"  # BLAKE3(b"abc")
BLOCK_VECTORS = [(b"", EMPTY), (b"abc", ABC),
                 (bytes(range(256)) * 4, "882179b8dbccd285cda241d968cfcccb3156c5edac2fa3761bb6eda7ff8cb172")]
CONTENT_VECTORS = [
    ([], EMPTY),  # an empty file has no blocks
    ([ABC], "dc2f738d17b8a7ec03efdd0a95e8d3924b8e05965040ab6dcafd992994012bd4"),
    ([EMPTY, ABC], "372f3bac4be9232fbf387c86529d369595eeec2a7a973ca801688fc113c537e7"),  # order matters
]


@pytest.mark.parametrize(("data", "digest"), BLOCK_VECTORS)
def test_block_hash_is_the_same_rule_on_both_sides(data: bytes, digest: str) -> None:
    assert chunker.block_hash(data) == hashing.block_hash(data) == digest
    assert hashing.is_block_hash(digest)


@pytest.mark.parametrize(("block_list", "digest"), CONTENT_VECTORS)
def test_content_hash_is_the_same_rule_on_both_sides(block_list: list[str], digest: str) -> None:
    assert chunker.content_hash_of(block_list) == hashing.content_hash(block_list) == digest


def test_both_sides_cut_files_into_the_same_blocks() -> None:
    """The web app uploads through the server's own FastCDC cutter: its blocks must be the daemon's, or a file
    uploaded in a browser would be uploaded again by every desktop (and dedup between them would be lost)."""
    for name in ("MIN_SIZE", "AVG_SIZE", "MAX_SIZE"):
        assert getattr(server_chunking, name) == getattr(chunker, name), name
    rng = random.Random(16)
    for size in (0, 1, 300_000, 5 * 1024 * 1024 + 17, 19 * 1024 * 1024):
        data = rng.randbytes(size)
        daemon_side = [c.hash for c in chunker.chunk_bytes(data)]
        streamed = server_chunking.StreamCutter()
        pieces: list[bytes] = []
        for i in range(0, size, 777_777):  # arriving in odd-sized pieces, as a request body does
            pieces += streamed.feed(data[i:i + 777_777])
        pieces += streamed.finish()
        assert [hashing.block_hash(p) for p in pieces] == daemon_side, size
        assert b"".join(pieces) == data


def test_the_api_reference_publishes_the_vectors() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for _, digest in BLOCK_VECTORS[:2] + CONTENT_VECTORS[1:]:
        assert digest in text, f"docs/api.md (Hashes) lacks the vector {digest}"


# -- commit ops: kinds, field names and failure codes ----------------------------------------------------------


def _server_op_models() -> dict[str, type[BaseModel]]:
    union = typing.get_args(server_models.OpIn)[0]
    out: dict[str, type[BaseModel]] = {}
    for model in typing.get_args(union):
        (kind,) = typing.get_args(model.model_fields["op"].annotation)
        out[kind] = model
    return out


SAMPLE_OPS: list[CommitOp] = [
    PutOp("a/b.txt", (ABC,), 3, 1_700_000_000_000_000_000, True, 7), PutOp("new.txt", (), 0, 0, False, None),
    MkdirOp("a"), MkdirOp("a", 4), DeleteOp("a/b.txt", 9), MoveOp("a", "c", 5),
]


def test_commit_op_kinds_and_fields_match_the_servers_models() -> None:
    server_ops = _server_op_models()
    assert {cls.OP for cls in COMMIT_OPS} == set(server_ops)
    for cls in COMMIT_OPS:
        # every field the server reads is sent (none left to a server default), and nothing else
        assert {"op", *(f.name for f in fields(cls))} == set(server_ops[cls.OP].model_fields), cls.OP
    for op in SAMPLE_OPS:
        model = server_ops[op.OP]
        parsed = server_models.CommitRequest.model_validate_json(json.dumps({"ops": [op.to_json()]})).ops[0]
        assert isinstance(parsed, model)
        assert parsed.model_dump() == op.to_json()


def test_the_servers_store_ops_mirror_its_wire_models() -> None:
    """The server's store vocabulary is internal, but its ops carry exactly the wire fields."""
    store_ops = {"put": store.PutOp, "mkdir": store.MkdirOp, "delete": store.DeleteOp, "move": store.MoveOp}
    assert set(typing.get_args(store.Op)) == set(store_ops.values())
    for kind, model in _server_op_models().items():
        assert {f.name for f in fields(store_ops[kind])} == set(model.model_fields) - {"op"}, kind


def test_commit_failure_codes_are_the_servers() -> None:
    code = typing.get_type_hints(store.OpFail)["code"]
    assert set(typing.get_args(code)) == set(COMMIT_FAILURES)


def test_commit_bodies_stay_within_the_servers_limits() -> None:
    many_small = [MkdirOp(f"d{i}") for i in range(2500)]
    bodies = list(commit_bodies(many_small))
    assert [n for n, _ in bodies] == [1000, 1000, 500]
    # puts of big files: each op ~ 800 block hashes (a 1 GiB file), so the JSON size decides, not the op count
    big = [PutOp(f"f{i}", (ABC,) * 800, 3 * 800, 0, False, None) for i in range(300)]
    bodies = list(commit_bodies(big))
    assert len(bodies) > 1
    assert sum(n for n, _ in bodies) == len(big)
    sent: list[str] = []
    for n, body in bodies:
        assert len(body) <= daemon_limits.MAX_JSON_BODY
        request = server_models.CommitRequest.model_validate_json(body)
        assert len(request.ops) == n
        sent += [op.path for op in request.ops]
    assert sent == [op.path for op in big]  # in order, none lost
    assert list(commit_bodies([])) == []


# -- limits: the daemon's equal the server's published ones ----------------------------------------------------

# Published limits the daemon does not size anything by (it never sends names or integers near these).
NOT_USED_BY_THE_DAEMON = {"default_changes_limit", "default_wait_seconds", "max_int", "max_name_chars",
                          "max_unauthenticated_body"}
DAEMON_VIEW = {**daemon_limits.AS_PUBLISHED, "max_path_bytes": names.SERVER_MAX_PATH_BYTES,
               "max_segment_bytes": names.SERVER_MAX_SEGMENT_BYTES}


def test_every_published_limit_is_known_to_the_daemon_or_explicitly_unused() -> None:
    assert set(PUBLISHED) == set(DAEMON_VIEW) | NOT_USED_BY_THE_DAEMON
    assert {k: PUBLISHED[k].value for k in DAEMON_VIEW} == DAEMON_VIEW


def test_the_api_reference_lists_the_published_limits() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert "GET /v1/limits" in text
    for name in PUBLISHED:
        assert f"`{name}`" in text, f"docs/api.md (Limits) does not name {name}"


# -- a real client against a real server: every exchange checked by both sides' definitions --------------------


@dataclass
class Exchange:
    method: str
    path: str
    body: bytes | None
    status: int
    content_type: str
    answer: bytes


def _route(method: str, path: str) -> APIRoute:
    found = [r for r in ROUTES if method in (r.methods or ()) and r.path_regex.match(path)]
    assert found, f"the daemon calls {method} {path}, which the server does not serve"
    return found[0]


def _request_model(route: APIRoute) -> type[BaseModel] | None:
    params = route.dependant.body_params
    if not params:
        return None
    model = params[0].field_info.annotation
    assert isinstance(model, type)
    assert issubclass(model, BaseModel)
    return model


def check_exchange(ex: Exchange) -> APIRoute:
    """The request is what the server's model accepts; the answer is what the route's model declares."""
    route = _route(ex.method, ex.path)
    model = _request_model(route)
    if model is not None:
        assert ex.body is not None, f"{ex.method} {ex.path} needs a JSON body"
        model.model_validate_json(ex.body)  # strict models: a "1" for 1 or 1 for true fails here
    if ex.status >= 400:
        err = json.loads(ex.answer)["error"]
        assert isinstance(err["code"], str)
        assert isinstance(err["message"], str)
    elif ex.content_type.startswith("application/json"):
        assert route.response_model is not None, f"{route.path} has no documented answer"
        route.response_model.model_validate_json(ex.answer, strict=True)
    return route


@pytest.fixture
def client(server: ServerProcess) -> tuple[RemoteClient, list[Exchange]]:
    c = RemoteClient(server.url)
    seen: list[Exchange] = []

    def record(resp: requests.Response, *args: Any, **kwargs: Any) -> None:
        req = resp.request
        body = req.body.encode() if isinstance(req.body, str) else req.body
        ctype = resp.headers.get("content-type", "")
        answer = b"" if ctype.startswith("application/octet-stream") else resp.content
        path = (req.path_url or "").split("?")[0]
        seen.append(Exchange(str(req.method), path, body if isinstance(body, bytes) else None,
                             resp.status_code, ctype, answer))

    c._session.hooks["response"].append(record)
    return c, seen


def test_every_call_of_the_client_round_trips_through_the_servers_models(
    client: tuple[RemoteClient, list[Exchange]], server: ServerProcess
) -> None:
    c, seen = client
    assert c.health()["ok"] is True
    published = c.limits()
    assert published == {k: p.value for k, p in PUBLISHED.items()}
    login = c.login("alice", "alice-pw", "contract-laptop")
    other = RemoteClient(server.url)
    other.login("alice", "alice-pw", "contract-phone")

    data = b"hello contract"
    digest = chunker.block_hash(data)
    small = [(chunker.block_hash(b), b) for b in (b"one", b"two")]
    assert set(c.missing([digest, digest, *(h for h, _ in small)])) == {digest, *(h for h, _ in small)}
    assert c.put_block(digest, data) == len(data)
    assert sorted(c.put_blocks_batch(small)) == sorted(h for h, _ in small)
    assert c.get_block(digest) == data
    with pytest.raises(NotFound):
        c.get_block(chunker.block_hash(b"never uploaded"))
    assert c.get_blocks([digest, *(h for h, _ in small), digest]) == {digest: data, **dict(small)}
    with pytest.raises(NotFound):
        c.get_blocks([digest, chunker.block_hash(b"never uploaded")])

    put = c.commit([MkdirOp("docs"), PutOp("docs/a.txt", (digest,), len(data), 1_700_000_000_000_000_000, False,
                                           None)])
    assert all(r.ok for r in put)
    entry = put[1].entry
    assert entry is not None
    assert entry.entry.content_hash == chunker.content_hash_of([digest])
    failed = c.commit([PutOp("docs/a.txt", (digest,), len(data), 0, False, None),  # conflict: it exists
                       PutOp("docs/b.txt", (chunker.block_hash(b"absent"),), 6, 0, False, None),  # missing_blocks
                       DeleteOp("docs", 10**9)])  # a conflict with `current`
    assert [r.code for r in failed] == ["conflict", "missing_blocks", "conflict"]
    assert failed[0].current is not None
    assert failed[1].missing
    moved = c.commit([MoveOp("docs/a.txt", "docs/c.txt", entry.entry.rev)])
    assert moved[0].ok
    assert moved[0].entry is not None
    assert c.commit([DeleteOp("docs/c.txt", moved[0].entry.entry.rev), DeleteOp("docs", put[0].entry.entry.rev
                                                                                   if put[0].entry else 0)])

    pages = list(c.iter_changes(0, limit=1))
    assert len(pages) >= 1
    assert pages[-1].has_more is False
    assert c.changes(0).cursor == pages[-1].cursor
    assert c.wait_changes(pages[-1].cursor, timeout=1).changes is False
    revs = c.revisions("docs/a.txt")
    assert revs
    assert any(e.path == "docs/c.txt" for e in c.deleted())
    assert any(e.path == "docs/c.txt" for e in c.deleted("docs"))
    restored = c.restore("docs/a.txt", revs[-1].rev)
    assert restored.path == "docs/a.txt"
    with pytest.raises(NotFound):
        c.restore("docs/nowhere.txt", 1)

    assert c.account().files >= 1
    made = c.create_share("docs/a.txt", expires_in=3600, password="pw")
    assert made.share.path == "docs/a.txt"
    assert made.share.has_password
    assert made.url.endswith("/s/" + made.token)
    assert [s.id for s in c.shares()] == [made.share.id]
    with pytest.raises(NotFound):
        c.create_share("docs/nowhere.txt")
    c.revoke_share(made.share.id)
    with pytest.raises(NotFound):
        c.revoke_share(made.share.id)
    assert c.shares() == []
    assert c.token_info().device_id == login.device_id
    renewed = c.renew_token()
    assert renewed.device_id == login.device_id
    c.token = renewed.token
    devices = c.devices()
    assert {d.name for d in devices} >= {"contract-laptop", "contract-phone"}
    c.revoke_device(next(d.device_id for d in devices if d.name == "contract-phone"))
    assert login.user == "alice"
    c.logout()
    other.close()
    c.close()

    hit = {(m, check_exchange(ex).path) for ex in seen for m in [ex.method]}
    served = {(m, r.path) for r in ROUTES for m in r.methods or ()}
    assert served == hit, f"routes the client never called here: {sorted(served - hit)}"


def test_the_openapi_document_carries_the_limits(server: ServerProcess) -> None:
    doc = requests.get(server.url + "/openapi.json", timeout=10).json()
    props = doc["components"]["schemas"]["LimitsResponse"]["properties"]
    assert {k: v["default"] for k, v in props.items()} == {k: p.value for k, p in PUBLISHED.items()}
    assert re.fullmatch(r"3\.\d+\.\d+", doc["openapi"])



def test_both_sides_name_the_encrypted_folders_key_file_alike() -> None:
    """The web app tells an encrypted folder by the daemon's key file at its root: a rename on one side only would
    let the web app write plain names into encrypted folders."""
    from ferrysync.daemon.crypto.format import KEYFILE_NAME
    from ferrysync.server.web.encrypted import KEY_FILE

    assert KEY_FILE == KEYFILE_NAME
