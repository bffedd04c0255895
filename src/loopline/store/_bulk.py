"""Many rows into one table at the driver's speed (the serving path writes review cases so).

SQLAlchemy's multi-row insert spends more per row than SQLite spends storing it: it compiles
the statement, processes every parameter through generic machinery and, to return the new ids,
reads them back row by row. On SQLite, :func:`insert_columns` instead applies each column's own
bind processor (the same ones SQLAlchemy uses: timestamps, JSON) to the column's values and
hands the driver one multi-row ``INSERT ... VALUES (...), (...)`` per chunk of rows: one call
and one statement step per chunk, not one per row (each step releases and re-takes the GIL,
which under load means waiting for it once per row). The new ids are then contiguous and end at
``last_insert_rowid()``, as the store's transactions hold the write lock from their start
(``BEGIN IMMEDIATE``) and its tables have no triggers. Other databases use a Core insert with
``RETURNING``.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from itertools import chain
from typing import Any, cast

import orjson
from sqlalchemy import JSON, Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from loopline.store._tables import Base

__all__ = ["RawJson", "insert_columns", "insert_rows"]

_Plan = tuple[str, list[Any]]
_PLANS: dict[tuple[str, str, tuple[str, ...]], _Plan] = {}
#: SQLite's default bound on parameters per statement since 3.32 (999 before).
_SQLITE_VARIABLES = 32_766


def _plan(table: Table, columns: tuple[str, ...], dialect: Dialect) -> _Plan:
    """The statement's head and each column's bind processor, made once per table and columns."""
    key = (table.name, dialect.name, columns)
    found = _PLANS.get(key)
    if found is None:
        processors: list[Any] = []  # per column: None, a bind processor or _JsonText
        for name in columns:
            column_type = table.c[name].type
            process: Any = column_type._cached_bind_processor(dialect)
            serialize = getattr(dialect, "_json_serializer", None)
            if isinstance(column_type.dialect_impl(dialect), JSON) and serialize is not None:
                process = _JsonText(serialize, process)
            processors.append(process)
        head = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
        found = _PLANS[key] = (head, processors)
    return found


@functools.lru_cache(maxsize=256)
def _values_sql(head: str, width: int, rows: int) -> str:
    one = "(" + ", ".join("?" * width) + ")"
    return head + ", ".join([one] * rows)


class RawJson(str):
    """JSON text already written, for a JSON column: stored as it is instead of serialized again
    (the serving path writes a row's inputs once, for its review case and its log record)."""

    __slots__ = ()


class _JsonText:
    """A JSON column's values: the engine's serializer called directly (SQLAlchemy's processor
    wraps it in two more calls per value), SQLAlchemy's own processor for ``None``."""

    def __init__(self, serialize: Callable[[Any], str], process: Any) -> None:
        self.serialize = serialize
        self.process = process

    def many(self, values: Sequence[Any]) -> list[Any]:
        serialize, process = self.serialize, self.process
        return [
            value
            if type(value) is RawJson
            else process(value)
            if value is None
            else serialize(value)
            for value in values
        ]


def _processed(values: Sequence[Any], process: Any) -> Sequence[Any]:
    if process is None:
        return values
    if isinstance(process, _JsonText):  # distinct documents: nothing to share
        return process.many(values)
    # rows written together often share a value object (the same timestamps): each distinct
    # object is processed once (all are alive, so their ids are distinct)
    seen: dict[int, Any] = {}
    return [
        seen[ident] if (ident := id(value)) in seen else seen.setdefault(ident, process(value))
        for value in values
    ]


def _documents(values: Sequence[Any]) -> Sequence[Any]:
    """Values with any :class:`RawJson` parsed back, for drivers that serialize JSON themselves."""
    if not any(type(value) is RawJson for value in values):
        return values
    return [orjson.loads(str(value)) if type(value) is RawJson else value for value in values]


def _variable_limit(connection: Any) -> int:
    getlimit = getattr(connection, "getlimit", None)  # Python 3.11+
    if getlimit is None:
        return 999 if sqlite3.sqlite_version_info < (3, 32) else _SQLITE_VARIABLES
    return int(getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))


def insert_columns(
    session: Session,
    entity: type[Base],
    columns: Mapping[str, Sequence[Any]],
    *,
    ids: bool = False,
) -> list[int]:
    """Insert rows given as columns (names to equally long value lists) into ``entity``'s table
    in the session's transaction.

    Returns the new rows' primary keys in row order when ``ids`` is true, else an empty list.
    """
    names = tuple(columns)
    count = len(columns[names[0]]) if names else 0
    if count == 0:
        return []
    if any(len(values) != count for values in columns.values()):
        raise ValueError(
            f"columns of different lengths: { {n: len(v) for n, v in columns.items()} }"
        )
    table = cast(Table, entity.__table__)
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "sqlite":
        columns = {name: _documents(values) for name, values in columns.items()}
        rows = [
            dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)
        ]
        statement = insert(table)
        if not ids:
            connection.execute(statement, rows)
            return []
        created = connection.execute(
            statement.returning(table.c.id, sort_by_parameter_order=True), rows
        ).all()
        return [row[0] for row in created]
    head, processors = _plan(table, names, dialect)
    processed = [
        _processed(columns[name], process) for name, process in zip(names, processors, strict=True)
    ]
    flat = list(chain.from_iterable(zip(*processed, strict=True)))
    dbapi = connection.connection.dbapi_connection
    width = len(names)
    per_statement = max(1, _variable_limit(dbapi) // width)
    cursor = dbapi.cursor()  # type: ignore[union-attr]
    try:
        for first in range(0, count, per_statement):
            size = min(per_statement, count - first)
            cursor.execute(
                _values_sql(head, width, size), flat[first * width : (first + size) * width]
            )
        if not ids:
            return []
        last = cursor.execute("SELECT last_insert_rowid()").fetchone()[0]
    finally:
        cursor.close()
    return list(range(last - count + 1, last + 1))


def insert_rows(
    session: Session, entity: type[Base], rows: Sequence[dict[str, Any]], *, ids: bool = False
) -> list[int]:
    """:func:`insert_columns` for rows given as dicts with the same keys."""
    if not rows:
        return []
    return insert_columns(
        session, entity, {name: [row[name] for row in rows] for name in rows[0]}, ids=ids
    )
