"""Schema migrations: an empty database upgrades to the newest revision, and a data dir made before migrations
existed (the first release's tables, no alembic_version) is stamped and upgraded with its data intact."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from cloud import fresh_database, require_postgres
from srvapi import Api, Server, h, put_op

from ferrysync.server.passwords import hash_password
from ferrysync.server.store.migrate import current_revision, head_revision
from ferrysync.server.store.rows import path_key
from ferrysync.server.store.schema import metadata
from ferrysync.server.store.sql import SqlMetaStore

# The tables exactly as the first release created them (metadata.create_all, before Alembic).
PRE_ALEMBIC_DDL = """
CREATE TABLE users (id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, name VARCHAR(255) NOT NULL,
  password_hash VARCHAR(255) NOT NULL, seq BIGINT NOT NULL, pruned_seq BIGINT NOT NULL, created_at BIGINT NOT NULL,
  UNIQUE (name));
CREATE TABLE devices (id VARCHAR(32) NOT NULL, user_id INTEGER NOT NULL, name VARCHAR(255) NOT NULL,
  token_hash VARCHAR(64) NOT NULL, created_at BIGINT NOT NULL, last_seen BIGINT, revoked_at BIGINT, PRIMARY KEY (id),
  FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE, UNIQUE (token_hash));
CREATE INDEX ix_devices_user ON devices (user_id);
CREATE TABLE entries (user_id INTEGER NOT NULL, path TEXT NOT NULL, file_id VARCHAR(32) NOT NULL,
  kind VARCHAR(4) NOT NULL, seq BIGINT NOT NULL, deleted BOOLEAN NOT NULL, size BIGINT NOT NULL,
  mtime_ns BIGINT NOT NULL, executable BOOLEAN NOT NULL, content_hash VARCHAR(64), blocks TEXT NOT NULL,
  modified_by VARCHAR(255), changed_at BIGINT NOT NULL, PRIMARY KEY (user_id, path),
  FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE);
CREATE INDEX ix_entries_user_seq ON entries (user_id, seq);
CREATE INDEX ix_entries_user_file ON entries (user_id, file_id);
CREATE TABLE revisions (id INTEGER NOT NULL, user_id INTEGER NOT NULL, path TEXT NOT NULL, rev BIGINT NOT NULL,
  file_id VARCHAR(32) NOT NULL, kind VARCHAR(4) NOT NULL, deleted BOOLEAN NOT NULL, size BIGINT NOT NULL,
  mtime_ns BIGINT NOT NULL, executable BOOLEAN NOT NULL, content_hash VARCHAR(64), blocks TEXT NOT NULL,
  modified_by VARCHAR(255), created_at BIGINT NOT NULL, superseded_at BIGINT, PRIMARY KEY (id),
  FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE);
CREATE INDEX ix_revisions_user_path_rev ON revisions (user_id, path, rev);
CREATE INDEX ix_revisions_superseded ON revisions (superseded_at);
CREATE TABLE user_blocks (user_id INTEGER NOT NULL, hash VARCHAR(64) NOT NULL, size BIGINT NOT NULL,
  created_at BIGINT NOT NULL, PRIMARY KEY (user_id, hash),
  FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE);
CREATE INDEX ix_user_blocks_hash ON user_blocks (hash);
"""


def _assert_schema_is_current(url: str) -> None:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            assert current_revision(conn) == head_revision()
            found = sa.inspect(conn)
            for table in metadata.sorted_tables:
                assert {c["name"] for c in found.get_columns(table.name)} == {c.name for c in table.columns}
                assert set(found.get_pk_constraint(table.name)["constrained_columns"]) == {
                    c.name for c in table.primary_key.columns}
                assert {i["name"] for i in found.get_indexes(table.name)} >= {i.name for i in table.indexes}
    finally:
        engine.dispose()


def _exercise(url: str) -> None:
    """A long path (over PostgreSQL's index entry limit before path keys) round-trips through the store."""
    from ferrysync.server.store.base import MkdirOp

    store = SqlMetaStore.from_url(url)
    try:
        user = store.add_user("someone", "x")
        deep = "/".join(["é" * 127] * 16)  # 4,079 UTF-8 bytes
        _results, seqs = store.commit(user.id, "dev", [MkdirOp(deep, None)])
        assert list(seqs.values()) == [16]
        assert store.changes(user.id, 0, 100).entries[-1].path == deep
        assert store.revisions(user.id, deep)[0].rev == 16
    finally:
        store.close()


def test_an_empty_sqlite_database_upgrades_to_the_newest_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ferry.db'}"
    _exercise(url)
    _assert_schema_is_current(url)


def test_an_empty_postgresql_database_upgrades_to_the_newest_revision() -> None:
    with fresh_database(require_postgres()) as url:
        _exercise(url)
        _assert_schema_is_current(url)
        _exercise_again = SqlMetaStore.from_url(url)  # a second start finds nothing to do
        _exercise_again.close()


def test_a_data_dir_from_before_migrations_is_stamped_and_upgraded(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    block = b"made by the first release"
    digest = h(block)
    with sqlite3.connect(data / "ferry.db") as db:
        db.executescript(PRE_ALEMBIC_DDL)
        db.execute("INSERT INTO users VALUES (1, 'alice', ?, 2, 0, 1000)", (hash_password("alice-pw"),))
        rows = [("docs", "f1", "dir", 1, 0, None, "[]"), ("docs/a.txt", "f2", "file", 2, len(block), digest,
                                                         f'["{digest}"]')]
        for path, fid, kind, seq, size, chash, blocks in rows:
            db.execute("INSERT INTO entries VALUES (1, ?, ?, ?, ?, 0, ?, 5, 0, ?, ?, 'old-pc', 1000)",
                       (path, fid, kind, seq, size, chash, blocks))
            db.execute("INSERT INTO revisions (user_id, path, rev, file_id, kind, deleted, size, mtime_ns, "
                       "executable, content_hash, blocks, modified_by, created_at) "
                       "VALUES (1, ?, ?, ?, ?, 0, ?, 5, 0, ?, ?, 'old-pc', 1000)",
                       (path, seq, fid, kind, size, chash, blocks))
        db.execute("INSERT INTO user_blocks VALUES (1, ?, ?, 1000)", (digest, len(block)))
    blocks_dir = data / "blocks" / digest[:2] / digest[2:4]
    blocks_dir.mkdir(parents=True)
    (blocks_dir / digest).write_bytes(block)

    server = Server(data, extra_args=["--gc-interval", "0"]).start()
    try:
        alice = Api(server.url, server.login("alice", "alice-pw"), "alice")
        tree = alice.tree()
        assert set(tree) == {"docs", "docs/a.txt"}
        assert tree["docs/a.txt"]["rev"] == 2
        assert alice.download(tree["docs/a.txt"]) == block
        (res,) = alice.commit(put_op("docs/a.txt", [digest], len(block), base_rev=2, mtime_ns=9))
        assert res["ok"]
        assert res["entry"]["seq"] == 3
        revs = alice.ok(alice.get("/v1/revisions", params={"path": "docs/a.txt"}))["revisions"]
        assert [r["rev"] for r in revs] == [3, 2]
    finally:
        server.stop()
    _assert_schema_is_current(f"sqlite:///{data / 'ferry.db'}")
    with sqlite3.connect(data / "ferry.db") as db:
        assert db.execute("SELECT path_key FROM entries WHERE path = 'docs/a.txt'").fetchone()[0] == path_key(
            "docs/a.txt")


@pytest.mark.parametrize("url", ["postgresql://nobody@127.0.0.1:1/none"])
def test_an_unreachable_database_is_a_clear_error(url: str, tmp_path: Path) -> None:
    from srvapi import ferry_server

    res = ferry_server("user", "list", "--data", str(tmp_path), "--database-url", url)
    assert res.returncode == 1
    assert "cannot use the database" in res.stderr
    assert "Traceback" not in res.stderr


def _at_0005_with_data(url: str) -> None:
    """Files at 0003 (before namespaces), then a share link, a quota and a web session at 0005 (before 0006)."""
    """A database at revision 0003 (before namespaces) holding two users' trees, revisions and blocks."""
    from alembic import command

    from ferrysync.server.store.engine import make_engine
    from ferrysync.server.store.migrate import alembic_config

    engine = make_engine(url, migrate=False)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0003")
        with engine.begin() as conn:
            ids = {}
            for name, seq in (("alice", 3), ("bob", 1)):
                conn.execute(sa.text("INSERT INTO users (name, password_hash, seq, pruned_seq, created_at) "
                                     "VALUES (:n, 'x', :s, 0, 1000)"), {"n": name, "s": seq})
                ids[name] = conn.execute(sa.text("SELECT id FROM users WHERE name = :n"), {"n": name}).scalar_one()
            rows = [("alice", "Team", "d1", "dir", 1, "[]", None),
                    ("alice", "Team/a.txt", "f1", "file", 3, f'["{"a" * 64}"]', "c" * 64),
                    ("bob", "b.txt", "f2", "file", 1, "[]", None)]
            for who, path, fid, kind, seq, blocks, chash in rows:
                values = {"u": ids[who], "p": path, "k": path_key(path), "f": fid, "kind": kind, "s": seq, "b": blocks,
                          "c": chash}
                conn.execute(sa.text(
                    "INSERT INTO entries (user_id, path_key, path, file_id, kind, seq, deleted, size, mtime_ns, "
                    "executable, content_hash, blocks, modified_by, changed_at) VALUES (:u, :k, :p, :f, :kind, :s, "
                    "false, 0, 5, false, :c, :b, 'old-pc', 1000)"), values)
                conn.execute(sa.text(
                    "INSERT INTO revisions (user_id, path, path_key, rev, file_id, kind, deleted, size, mtime_ns, "
                    "executable, content_hash, blocks, modified_by, created_at) VALUES (:u, :p, :k, :s, :f, :kind, "
                    "false, 0, 5, false, :c, :b, 'old-pc', 1000)"), values)
            conn.execute(sa.text("INSERT INTO user_blocks (user_id, hash, size, created_at) "
                                 "VALUES (:u, :h, 0, 1000)"), {"u": ids["alice"], "h": "a" * 64})
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0005")
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO share_links (id, user_id, token_hash, file_id, path, kind, grant_key, created_at, "
                "downloads) VALUES ('L1', :u, :t, 'f1', 'Team/a.txt', 'file', 'g', 1000, 0)"),
                {"u": ids["alice"], "t": "7" * 64})
            conn.execute(sa.text("UPDATE users SET quota_bytes = 12345 WHERE id = :u"), {"u": ids["alice"]})
            conn.execute(sa.text("INSERT INTO web_sessions (token_hash, user_id, created_at, last_seen, expires_at) "
                                 "VALUES (:t, :u, 1000, 1000, 9999999999999)"), {"t": "8" * 64, "u": ids["alice"]})
    finally:
        engine.dispose()


def _check_moved_to_namespaces(url: str) -> None:
    from ferrysync.server.store.base import MkdirOp

    store = SqlMetaStore.from_url(url)  # upgrades to the head
    try:
        alice = store.get_user("alice")
        bob = store.get_user("bob")
        assert alice is not None
        assert bob is not None
        a, b = alice[0].id, bob[0].id
        page = store.changes(a, 0, 100)
        assert [(e.path, e.seq) for e in page.entries] == [("Team", 1), ("Team/a.txt", 3)]
        assert page.cursor == 3  # the user's seq became their root namespace's: device cursors stay valid
        assert store.changes(a, 1, 100).cursor == 3
        assert [r.rev for r in store.revisions(a, "Team/a.txt")] == [3]
        assert store.user_has_block(a, "a" * 64)
        assert not store.user_has_block(b, "a" * 64)
        assert store.usage(a).quota_bytes == 12345
        session = store.session("8" * 64, 2000)
        assert session is not None
        assert session.user.id == a
        found = store.share_by_token("7" * 64)
        assert found is not None
        assert found[1] is not None
        assert found[1].path == "Team/a.txt"
        carol = store.add_user("carol", "x")  # a new user's root namespace collides with no migrated one
        _, seqs = store.commit(carol.id, "dev", [MkdirOp("c", None)])
        assert list(seqs.values()) == [1]
        assert store.changes(a, 0, 100).cursor == 3
        store.share_folder(a, "dev", "Team", "bob", "rw")
        assert {e.path for e in store.changes(b, 0, 100).entries} == {"b.txt", "Team", "Team/a.txt"}
        assert store.user_has_block(b, "a" * 64)  # through the shared folder now
        assert [r.rev for r in store.revisions(b, "Team/a.txt")] == [3]
        found = store.share_by_token("7" * 64)  # the owner's link follows the file into the shared folder
        assert found is not None
        assert found[1] is not None
        assert found[1].path == "Team/a.txt"
        assert found[0].state(2000) == "active"
    finally:
        store.close()
    _assert_schema_is_current(url)


def test_namespaces_take_over_existing_data_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ferry.db'}"
    _at_0005_with_data(url)
    _check_moved_to_namespaces(url)


def test_namespaces_take_over_existing_data_on_postgresql() -> None:
    with fresh_database(require_postgres()) as url:
        _at_0005_with_data(url)
        _check_moved_to_namespaces(url)
