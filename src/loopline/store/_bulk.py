"""Many rows into one table at the driver's speed (the serving path writes review cases so).

SQLAlchemy's multi-row insert spends more per row than SQLite spends storing it: it compiles
the statement, processes every parameter through generic machinery and, to return the new ids,
reads them back row by row. On SQLite, :func:`insert_rows` instead applies each column's own
bind processor (the same ones SQLAlchemy uses: timestamps, JSON) in one loop and hands the rows
to the driver's ``executemany``; the new ids are then contiguous and end at
``last_insert_rowid()``, as the store's transactions hold the write lock from their start
(``BEGIN IMMEDIATE``) and its tables have no triggers. Other databases use a Core insert with
``RETURNING``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from loopline.store._tables import Base

__all__ = ["insert_rows"]

_Plan = tuple[str, list[tuple[str, Any]]]
_PLANS: dict[tuple[str, str, tuple[str, ...]], _Plan] = {}


def _plan(table: Table, columns: tuple[str, ...], dialect: Dialect) -> _Plan:
    """The SQLite statement and each column's bind processor, made once per table and columns."""
    key = (table.name, dialect.name, columns)
    found = _PLANS.get(key)
    if found is None:
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        processors = [
            (name, table.c[name].type._cached_bind_processor(dialect)) for name in columns
        ]
        found = _PLANS[key] = (f"INSERT INTO {table.name} ({names}) VALUES ({marks})", processors)
    return found


def insert_rows(
    session: Session, entity: type[Base], rows: Sequence[dict[str, Any]], *, ids: bool = False
) -> list[int]:
    """Insert ``rows`` (dicts with the same keys) into ``entity``'s table in the session's
    transaction.

    Returns the new rows' primary keys in the order of ``rows`` when ``ids`` is true, else an
    empty list.
    """
    if not rows:
        return []
    table = cast(Table, entity.__table__)
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "sqlite":
        statement = insert(table)
        if not ids:
            connection.execute(statement, list(rows))
            return []
        key = table.c.id
        created = connection.execute(
            statement.returning(key, sort_by_parameter_order=True), list(rows)
        ).all()
        return [row[0] for row in created]
    sql, processors = _plan(table, tuple(rows[0]), dialect)
    columns = []
    for name, process in processors:
        raw = [row[name] for row in rows]
        if process is not None:
            # rows written together often share a value object (the same timestamps): each
            # distinct object is processed once (all are alive, so their ids are distinct)
            seen: dict[int, Any] = {}
            raw = [
                seen[ident]
                if (ident := id(value)) in seen
                else seen.setdefault(ident, process(value))
                for value in raw
            ]
        columns.append(raw)
    values = list(zip(*columns, strict=True))
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, values)
        if not ids:
            return []
        last = cursor.execute("SELECT last_insert_rowid()").fetchone()[0]
    finally:
        cursor.close()
    first = last - len(values) + 1
    return list(range(first, last + 1))
