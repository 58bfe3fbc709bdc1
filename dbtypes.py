"""Column types, and row-id helpers for keyset paging, shared by every package. A leaf: imports no project package."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import ARRAY, BigInteger, ColumnElement, DateTime, Enum, Integer, any_, literal
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine

# 64-bit ids on PostgreSQL; SQLite only auto-increments a column declared exactly INTEGER.
T = TypeVar("T")

BigId = BigInteger().with_variant(Integer(), "sqlite")


def value_enum(cls: type[enum.Enum], length: int = 16, **options: Any) -> Enum:
    """A column of ``cls`` stored as its members' values in a plain string column (no native enum
    type, so adding a member needs no ALTER TYPE on PostgreSQL)."""
    return Enum(
        cls, native_enum=False, length=length, values_callable=lambda members: [m.value for m in members], **options
    )


def dialect_function(name: str, type_: TypeEngine, *, sqlite: str, postgresql: str) -> type[FunctionElement]:
    """A SQL function that SQLite and PostgreSQL spell differently but call with the same arguments."""
    function = type(name, (FunctionElement,), {"type": type_, "inherit_cache": True})
    compiles(function)(_spelled(sqlite))
    compiles(function, "postgresql")(_spelled(postgresql))
    return function


def _spelled(spelling: str):
    return lambda element, compiler, **kw: f"{spelling}({compiler.process(element.clauses, **kw)})"


def conflict_insert(table: Any, dialect: str) -> Any:
    """An INSERT into ``table`` that takes ``on_conflict_do_nothing``/``on_conflict_do_update`` in ``dialect``'s
    spelling: PostgreSQL's, else SQLite's (the two databases we run on)."""
    return postgresql_insert(table) if dialect == "postgresql" else sqlite_insert(table)


def one_of(column: ColumnElement[Any], values: Iterable[Any], dialect: str) -> ColumnElement[bool]:
    """``column IN values``, sent as one parameter on PostgreSQL: ``column = ANY(:array::type[])``.

    psycopg converts a statement's placeholders once per query text and caches that only for texts of at
    most 50 parameters, so an IN list of a batch's few hundred ids is parsed again on every execution (a
    quarter of a dispatch job's own CPU on PostgreSQL). One array parameter keeps the text short and the same.
    SQLite gets the IN list (its driver has no such cost). Negate with ``~`` for NOT IN.
    """
    values = list(values)
    if dialect == "postgresql":
        return column == any_(literal(values, ARRAY(column.type)))
    return column.in_(values)


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware.

    SQLite has no time zone type and hands back naive values; this keeps Python code from ever
    seeing a naive datetime, whichever database is behind it.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column; use dbtypes.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def parse_id(text: str | None) -> int | None:
    """A row id from untrusted text (a query string), or None unless it is one.

    ``str.isdigit`` alone would accept "²", and a number past 64 bits would fail in the database.
    """
    if not text or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if 0 < value < 2**63 else None


def keyset_page(rows: list[T], limit: int) -> tuple[list[T], int | None]:
    """One page from ``rows`` fetched newest first with ``limit + 1`` rows, and the ``before`` cursor
    of the next (older) page, or None when there is none.

    The extra row tells whether an older page exists, so an "Older entries" link never leads nowhere.
    """
    page = rows[:limit]
    return page, page[-1].id if len(rows) > limit else None


@contextmanager
def sqlite_foreign_keys_off(op: Any) -> Iterator[None]:
    """In a migration (``op`` is alembic's): on SQLite, rebuild tables others reference with foreign keys not
    enforced, so that SQLite's DROP TABLE of the rebuild neither cascades into nor nulls nor refuses for the rows
    that point at them. Outside a transaction: the pragma is ignored inside one."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        with op.get_context().autocommit_block():
            op.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        if sqlite:
            with op.get_context().autocommit_block():
                op.execute("PRAGMA foreign_keys=ON")
