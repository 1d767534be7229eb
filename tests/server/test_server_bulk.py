"""`bulk.execute_many` writes exactly what `Connection.execute(stmt, rows)` writes, for every statement the
server runs through it, on SQLite and (when FERRY_TEST_POSTGRES_URL is set) PostgreSQL; and what it cannot run
directly it leaves to SQLAlchemy instead of writing something else."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cloud import fresh_database, require_postgres
from sqlalchemy import Connection, Engine, bindparam, insert, select, update

from ferrysync.server.store import blockmarks
from ferrysync.server.store.bulk import _plan, execute_many
from ferrysync.server.store.engine import make_engine
from ferrysync.server.store.rows import path_key
from ferrysync.server.store.schema import block_marks, entries, namespaces, ns_blocks, revisions, users
from ferrysync.server.store.tree import _INSERT_ENTRY, _INSERT_REVISION, _SUPERSEDE, _UPDATE_ENTRY


@pytest.fixture(params=["sqlite", "postgresql"])
def engines(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    """Two empty databases of one kind: one written through SQLAlchemy, one through execute_many."""
    if request.param == "sqlite":
        pair = make_engine(f"sqlite:///{tmp_path / 'a.db'}"), make_engine(f"sqlite:///{tmp_path / 'b.db'}")
        yield pair
    else:
        admin = require_postgres()
        with fresh_database(admin) as a, fresh_database(admin) as b:
            pair = make_engine(a), make_engine(b)
            try:
                yield pair
            finally:
                for e in pair:
                    e.dispose()
        return
    for e in pair:
        e.dispose()


def _namespace(conn: Connection) -> int:
    conn.execute(insert(users).values(id=1, name="ann", password_hash="x", created_at=1))
    conn.execute(insert(namespaces).values(id=1, owner_id=1, kind="root", seq=0, pruned_seq=0, created_at=1))
    return 1


def _version(i: int, *, deleted: bool = False) -> dict[str, Any]:
    path = f"dir/f{i}.txt"
    return {"path": path, "path_key": path_key(path), "file_id": f"{i:032x}", "kind": "file", "deleted": deleted,
            "size": i, "mtime_ns": 10**18 + i, "executable": i % 2 == 0, "content_hash": None if deleted else "c" * 64,
            "blocks": "[]" if deleted else '["' + "b" * 64 + '"]', "modified_by": "laptop" if i % 3 else None}


def _write(engine: Engine, writer: Callable[[Connection, Any, list[dict[str, Any]]], object]) -> None:
    with engine.begin() as conn:
        ns = _namespace(conn)
        writer(conn, _INSERT_ENTRY, [{"ns_id": ns, **_version(i), "seq": i, "changed_at": 5} for i in range(300)])
        writer(conn, _INSERT_REVISION, [{"ns_id": ns, **_version(i), "rev": i, "created_at": 5, "superseded_at": None}
                                        for i in range(300)])
        keys = [{"b_ns": ns, "b_key": path_key(f"dir/f{i}.txt")} for i in range(0, 300, 7)]
        writer(conn, _SUPERSEDE, [{**k, "b_now": 99} for k in keys])
        writer(conn, _UPDATE_ENTRY, [{**_version(i, deleted=True), "seq": 1000 + i, "changed_at": 6, **k}
                                     for i, k in zip(range(0, 300, 7), keys, strict=True)])
        mark = blockmarks._mark_upload_stmt(conn.dialect.name)
        writer(conn, mark, [{"m_hash": f"{i:064x}", "m_at": 7} for i in range(50)])
        writer(conn, mark, [{"m_hash": f"{i:064x}", "m_at": 8} for i in range(25, 75)])  # the upsert's update side
        hold = blockmarks.upsert(conn, ns_blocks)
        hold = hold.on_conflict_do_update(index_elements=["ns_id", "hash"],
                                          set_={"created_at": hold.excluded.created_at})
        writer(conn, hold, [{"ns_id": ns, "hash": f"{i:064x}", "size": i, "created_at": 9} for i in range(40)])
        writer(conn, hold, [{"ns_id": ns, "hash": f"{i:064x}", "size": i, "created_at": 10} for i in range(20, 60)])


def _dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {t.name: sorted(tuple(r) for r in conn.execute(select(t))) for t in (entries, revisions, block_marks,
                                                                                    ns_blocks)}


def test_the_rows_written_are_the_ones_sqlalchemy_writes(engines: tuple[Engine, Engine]) -> None:
    through_sqlalchemy, direct = engines
    _write(through_sqlalchemy, lambda conn, stmt, rows: conn.execute(stmt, rows))
    def direct_only(conn: Connection, stmt: Any, rows: list[dict[str, Any]]) -> None:
        assert _plan(conn, stmt, tuple(rows[0])) is not None, f"{stmt} was left to SQLAlchemy"
        execute_many(conn, stmt, rows)

    _write(direct, direct_only)
    want, got = _dump(through_sqlalchemy), _dump(direct)
    assert [len(want[t]) for t in ("entries", "revisions", "block_marks", "ns_blocks")] == [300, 300, 75, 60]
    assert sum(1 for r in want["revisions"] if r[-1] == 99) == 43  # superseded, as each path's current one
    assert got == want


def test_a_statement_it_cannot_run_directly_goes_through_sqlalchemy(engines: tuple[Engine, Engine]) -> None:
    engine = engines[0]
    with engine.begin() as conn:
        _namespace(conn)
        # A Python-side default (namespaces.seq) and an expanding IN list: both computed by SQLAlchemy per call.
        execute_many(conn, insert(namespaces),
                     [{"id": 2, "owner_id": 1, "kind": "root", "pruned_seq": 0, "created_at": 1}])
        execute_many(conn, update(namespaces).where(namespaces.c.id.in_(bindparam("ids", expanding=True))),
                     [{"ids": [1, 2], "pruned_seq": 4}])
        execute_many(conn, insert(namespaces), [])
        rows = conn.execute(select(namespaces.c.id, namespaces.c.seq, namespaces.c.pruned_seq)
                            .order_by(namespaces.c.id)).all()
    assert [tuple(r) for r in rows] == [(1, 0, 4), (2, 0, 4)]
