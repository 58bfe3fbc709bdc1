"""Search inside contacts' names and attributes, ranked: "Петров" finds "Иван Петров" and "Анна Петрова".

SQLite: an FTS5 index (``contact_search``) over the name and the attributes' words with "ё" as "е", tokenised
by ``unicode61`` with diacritics removed (so letter case does not matter), kept by triggers on ``contacts``;
each word of the query matches as the beginning of a word, and the matches are ranked by BM25. PostgreSQL: a
``pg_trgm`` GIN index over the same text lower-cased, each word matching as the beginning of a word there too
(a regular expression the trigram index answers), ranked by ``word_similarity``. Both answer from their index,
so a search costs what its matches cost, not the table.

``install`` creates the index (the migration calls it, and ``create_all`` through the table's ``after_create``);
``INDEX_TABLES`` and ``TRIGRAM_INDEX`` are its own, which the models do not describe.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, event, func, literal, literal_column, select, text

from audience.models import Contact

TABLE = "contact_search"
INDEX_TABLES = frozenset({TABLE, *(f"{TABLE}_{part}" for part in ("data", "idx", "docsize", "config", "content"))})
TRIGRAM_INDEX = "ix_contacts_search_trigram"
MAX_WORDS = 8
_WORD = re.compile(r"\w+", re.UNICODE)

def _folded(column: str) -> str:
    # unicode61 folds case in every script but takes diacritics off Latin letters only: "ё" is made "е" here.
    return f"replace(replace({column}, 'ё', 'е'), 'Ё', 'Е')"


def _values(column: str) -> str:
    # The attributes' names and values as written: the stored JSON may spell Cyrillic as "\\u" escapes.
    return _folded(f"(SELECT group_concat(key || ' ' || value, ' ') FROM json_each({column}))")


# Its own copy of the folded text (not external content: FTS5 would read the unfolded columns back to delete).
_SQLITE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5(name, attributes, "
    "tokenize='unicode61 remove_diacritics 2')",
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_insert AFTER INSERT ON contacts BEGIN "
    f"INSERT INTO {TABLE}(rowid, name, attributes) VALUES "
    f"(new.id, {_folded('new.name')}, {_values('new.attributes')}); END",
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_delete AFTER DELETE ON contacts BEGIN "
    f"DELETE FROM {TABLE} WHERE rowid = old.id; END",
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_update AFTER UPDATE OF name, attributes ON contacts BEGIN "
    f"UPDATE {TABLE} SET name = {_folded('new.name')}, attributes = {_values('new.attributes')} "
    "WHERE rowid = new.id; END",
    f"INSERT INTO {TABLE}(rowid, name, attributes) SELECT id, {_folded('name')}, {_values('contacts.attributes')} "
    "FROM contacts WHERE id NOT IN (SELECT rowid FROM contact_search)",
)
_SQLITE_DROP = (*(f"DROP TRIGGER IF EXISTS {TABLE}_{kind}" for kind in ("insert", "delete", "update")),
                f"DROP TABLE IF EXISTS {TABLE}")
# The text PostgreSQL searches: what the trigram index is built on, and what every query compares with.
# The attributes go through jsonb, which writes Cyrillic as itself where the stored json may have "\\u" escapes.
_TEXT = ("replace(lower(coalesce(name, '') || ' ' || coalesce(CAST(CAST(attributes AS jsonb) AS text), '')), "
         "'ё', 'е')")
_POSTGRESQL = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    f"CREATE INDEX IF NOT EXISTS {TRIGRAM_INDEX} ON contacts USING gin (({_TEXT}) gin_trgm_ops)",
)
_POSTGRESQL_DROP = (f"DROP INDEX IF EXISTS {TRIGRAM_INDEX}",)


def install(connection: Any) -> None:
    """Create the search index on ``connection``'s database (and fill it from the contacts there)."""
    for statement in _SQLITE if connection.dialect.name == "sqlite" else _POSTGRESQL:
        connection.execute(text(statement))


def uninstall(connection: Any) -> None:
    """Drop the search index."""
    for statement in _SQLITE_DROP if connection.dialect.name == "sqlite" else _POSTGRESQL_DROP:
        connection.execute(text(statement))


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """For alembic's comparisons: the search index's tables and index are not the models' to describe."""
    return not ((type_ == "table" and name in INDEX_TABLES) or (type_ == "index" and name == TRIGRAM_INDEX))


@event.listens_for(Contact.__table__, "after_create")
def _created(_table: Any, connection: Any, **_kw: Any) -> None:
    install(connection)


@event.listens_for(Contact.__table__, "before_drop")
def _dropping(_table: Any, connection: Any, **_kw: Any) -> None:
    uninstall(connection)


def words(query: str) -> list[str]:
    """The words of a query as the index knows them (letters and digits), lower-case, at most ``MAX_WORDS``."""
    return [word.casefold().replace("ё", "е") for word in _WORD.findall(query or "")][:MAX_WORDS]


def ranked(query: str, dialect: str) -> Select[Any] | None:
    """``(id, rank)`` of the contacts whose name or attributes hold every word of ``query``, best first (a lower
    rank is better); None for a query without a word."""
    found = words(query)
    if not found:
        return None
    if dialect == "sqlite":
        match = " AND ".join('"' + word.replace('"', '""') + '"*' for word in found)
        return (select(literal_column("rowid").label("id"), literal_column(f"bm25({TABLE})").label("rank"))
                .select_from(text(TABLE)).where(text(f"{TABLE} MATCH :match").bindparams(match=match)))
    searched = literal_column(_TEXT)
    # \m: the beginning of a word. The words are letters, digits and "_" only: nothing to escape in the pattern.
    conditions: list[ColumnElement[bool]] = [searched.op("~")(literal("\\m" + word)) for word in found]
    return (select(Contact.id.label("id"), (-func.word_similarity(" ".join(found), searched)).label("rank"))
            .where(and_(*conditions)))
