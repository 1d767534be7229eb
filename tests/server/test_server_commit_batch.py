"""A commit's rows are written in a few statements when the transaction finishes (store/tree.py): the database
must end up exactly as one statement per row left it, also when one request touches a path several times."""

from __future__ import annotations

from sqlalchemy import event, select

from ferrysync.server.store.base import DeleteOp, MkdirOp, MoveOp, OpOk, PutOp
from ferrysync.server.store.rows import path_key
from ferrysync.server.store.schema import revisions
from ferrysync.server.store.sql import SqlMetaStore
from ferrysync.server.store.views import root_namespace

A, B = "a" * 64, "b" * 64


def _open_revisions(meta: SqlMetaStore, uid: int, path: str) -> list[tuple[int, int | None]]:
    with meta.engine.connect() as conn:
        rows = conn.execute(select(revisions.c.rev, revisions.c.superseded_at).where(
            revisions.c.ns_id == root_namespace(conn, uid), revisions.c.path_key == path_key(path))
            .order_by(revisions.c.rev)).all()
    return [(int(r.rev), r.superseded_at) for r in rows]


def test_a_path_written_several_times_in_one_commit_keeps_one_open_revision(meta: SqlMetaStore) -> None:
    user = meta.add_user("u", "x")
    meta.mark_uploading([A, B])
    meta.add_user_blocks(user.id, [(A, 1), (B, 2)])
    put = PutOp(path="d/f", blocks=(A,), size=1, mtime_ns=1, executable=False, base_rev=None)
    first, _ = meta.commit(user.id, "dev", [put])
    assert isinstance(first[0], OpOk)
    rev1 = first[0].entry.seq
    # One request: edit, delete, create again, edit, then move the folder away (a subtree move reads the rows
    # the same request wrote, so they must be in the database by then).
    ops = [PutOp(path="d/f", blocks=(B,), size=2, mtime_ns=2, executable=False, base_rev=rev1)]
    results, _ = meta.commit(user.id, "dev", ops)
    assert isinstance(results[0], OpOk)
    rev2 = results[0].entry.seq
    results, seqs = meta.commit(user.id, "dev", [
        DeleteOp(path="d/f", base_rev=rev2),
        PutOp(path="d/f", blocks=(A,), size=1, mtime_ns=3, executable=False, base_rev=None),
        MkdirOp(path="e", base_rev=None),
        PutOp(path="e/g", blocks=(A,), size=1, mtime_ns=3, executable=False, base_rev=None),
    ])
    assert all(isinstance(r, OpOk) for r in results)
    d_rev = meta.changes(user.id, 0, 1000)
    live = {e.path: e for e in d_rev.entries if not e.deleted}
    results, _ = meta.commit(user.id, "dev", [MoveOp(path="e", to="moved", base_rev=live["e"].seq)])
    assert isinstance(results[0], OpOk)
    history = _open_revisions(meta, user.id, "d/f")
    assert [rev for rev, _ in history] == sorted(rev for rev, _ in history)
    assert len(history) == 4  # put, edit, delete, put again
    assert [s is None for _, s in history] == [False, False, False, True]  # only the newest is open
    # e/g: its put, then the tombstone the move left (the newest, so the open one)
    assert [s is None for _, s in _open_revisions(meta, user.id, "e/g")] == [False, True]
    assert [s is None for _, s in _open_revisions(meta, user.id, "moved/g")] == [True]
    page = meta.changes(user.id, 0, 1000)
    final = {e.path: e for e in page.entries}
    assert final["d/f"].size == 1
    assert not final["d/f"].deleted
    assert final["d/f"].seq <= max(seqs.values())
    assert all(p not in final or final[p].deleted for p in ("e", "e/g"))
    assert not final["moved/g"].deleted
    assert page.cursor == meta.current_seq(user.id)


def test_asking_which_of_many_blocks_are_missing_costs_a_few_statements(meta: SqlMetaStore) -> None:
    """One `POST /v1/blocks/missing` of a round's 2,000 blocks is a handful of queries, not one query per block
    (a merge once asked the database again for every hash: 10,000 small files took 3x longer to upload)."""
    user = meta.add_user("u", "x")
    held = [f"{i:064x}" for i in range(0, 2000, 2)]
    meta.mark_uploading(held)
    meta.add_user_blocks(user.id, [(x, 1) for x in held])
    asked = [f"{i:064x}" for i in range(2000)]
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(meta.engine, "before_cursor_execute", count)
    try:
        missing = meta.missing_blocks(user.id, asked)
    finally:
        event.remove(meta.engine, "before_cursor_execute", count)
    assert missing == [x for x in asked if x not in set(held)]
    assert len(statements) <= 10, f"{len(statements)} statements for one question"
