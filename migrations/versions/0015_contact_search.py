"""Contact search: the index that finds contacts by the words of their names and attributes, ranked — an FTS5
table kept by triggers on SQLite, a pg_trgm GIN index on PostgreSQL (``audience.search``, which this calls so that
the migration and ``create_all`` build the same index).

Revision ID: 0015_contact_search
Revises: 0014_contact_names
Create Date: 2026-12-08 01:40:00.000000

"""
from alembic import op

from audience import search

# revision identifiers, used by Alembic.
revision = '0015_contact_search'
down_revision = '0014_contact_names'
branch_labels = None
depends_on = None


def upgrade():
    search.install(op.get_bind())


def downgrade():
    search.uninstall(op.get_bind())
