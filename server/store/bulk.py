"""One statement run with many parameter sets, the rows handed to the driver as they are.

`Connection.execute(stmt, rows)` passes every row through the compiled statement's per-parameter machinery in
Python (`construct_params`), which for the thousand rows of a commit or a block batch cost a third of the
request's time on the database. Here a statement is compiled once per dialect and set of row keys, and the rows
go to the driver's `executemany` as tuples in the statement's parameter order (SQLite's qmark style) or as
mappings (psycopg's named style). Parameters the statement fixes itself (a constant in `.values()`, an
`on_conflict` clause) keep their compiled values; a type that needs converting on the way in (SQLite's Boolean)
is converted by the same processor SQLAlchemy would use, so the rows written are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Insert, Update
from sqlalchemy.sql.compiler import SQLCompiler


@dataclass(frozen=True)
class _Plan:
    stmt: Insert | Update  # kept so the cache's id() key cannot be reused by another object
    sql: str
    names: tuple[str, ...]  # every parameter, in the statement's order
    fixed: Mapping[str, Any]  # the values of parameters the rows do not carry
    convert: tuple[tuple[int, Callable[[Any], Any]], ...]  # (position, processor) where the type needs one
    positional: bool


_PLANS: dict[tuple[int, str, tuple[str, ...]], _Plan] = {}


def _plan(conn: Connection, stmt: Insert | Update, keys: tuple[str, ...]) -> _Plan | None:
    cache_key = (id(stmt), conn.dialect.name, keys)
    hit = _PLANS.get(cache_key)
    if hit is not None and hit.stmt is stmt:
        return hit
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(keys))
    if (not isinstance(compiled, SQLCompiler) or compiled.literal_execute_params or compiled.post_compile_params
            or compiled.insert_prefetch or compiled.update_prefetch or compiled.escaped_bind_names):
        # an expanding IN list (its SQL depends on each call's values), a default computed in Python for each
        # row, or a parameter name the driver's style needed escaped: left to SQLAlchemy
        return None
    binds = {name: bind for bind, name in compiled.bind_names.items()}  # by the name the SQL text uses
    positional = bool(compiled.positional)
    names = tuple(compiled.positiontup or ()) if positional else tuple(binds)
    defaults = compiled.params
    if any(name not in binds or name not in defaults for name in names):
        return None
    fixed = {n: defaults[n] for n in names if n not in keys}
    convert = tuple((i, proc) for i, n in enumerate(names)
                    if (proc := binds[n].type.bind_processor(conn.dialect)) is not None)
    plan = _Plan(stmt, compiled.string, names, fixed, convert, positional)
    _PLANS[cache_key] = plan
    return plan


def execute_many(conn: Connection, stmt: Insert | Update, rows: Sequence[Mapping[str, Any]]) -> None:
    """`conn.execute(stmt, rows)` for rows that all carry the same keys (what every caller here builds).

    A statement this cannot run directly (an expanding IN list) goes through `conn.execute` as before."""
    if not rows:
        return
    plan = _plan(conn, stmt, tuple(rows[0]))
    if plan is None:
        conn.execute(stmt, list(rows))
        return
    fixed, names, convert = plan.fixed, plan.names, plan.convert
    params: list[Any] = []
    for row in rows:
        values = [row[n] if n in row else fixed[n] for n in names]
        for i, proc in convert:
            if values[i] is not None:
                values[i] = proc(values[i])
        params.append(tuple(values) if plan.positional else dict(zip(names, values, strict=True)))
    conn.exec_driver_sql(plan.sql, params)
