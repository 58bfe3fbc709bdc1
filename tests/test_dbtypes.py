"""dbtypes.one_of: ``IN`` as one array parameter on PostgreSQL, the same rows everywhere."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from audience.models import Contact
from dbtypes import one_of
from extensions import db
from tests.campaign_world import add_contact


def test_a_long_list_is_one_parameter_on_postgresql_and_an_in_list_on_sqlite():
    # psycopg caches the conversion of a query text only up to 50 parameters: a batch's ids must not be 300.
    statement = select(Contact.id).where(one_of(Contact.id, range(300), "postgresql"),
                                         ~one_of(Contact.phone, ["+79030000001"] * 60, "postgresql"))
    compiled = statement.compile(dialect=postgresql.dialect())
    assert len(compiled.params) == 2
    assert "= ANY (" in str(compiled)
    assert " IN (" in str(select(Contact.id).where(one_of(Contact.id, [1, 2], "sqlite"))
                         .compile(dialect=sqlite.dialect()))


def test_it_selects_what_in_and_not_in_select(app):
    contacts = [add_contact() for _ in range(5)]
    wanted = [contacts[0].id, contacts[3].id, contacts[4].id]
    dialect = db.session.get_bind().dialect.name

    def phones(condition) -> set[str]:
        return set(db.session.scalars(select(Contact.phone).where(condition)))

    assert phones(one_of(Contact.id, wanted, dialect)) == {contacts[n].phone for n in (0, 3, 4)}
    assert phones(~one_of(Contact.id, wanted, dialect)) == {contacts[n].phone for n in (1, 2)}
    assert phones(one_of(Contact.phone, [contacts[1].phone, "+79990000000"], dialect)) == {contacts[1].phone}
    assert phones(one_of(Contact.id, [], dialect)) == set()
