"""Contact names as Russian business writes them: first name, patronymic and last name beside the display name.

Revision ID: 0014_contact_names
Revises: 0013_sms_senders
Create Date: 2026-12-08 01:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0014_contact_names'
down_revision = '0013_sms_senders'
branch_labels = None
depends_on = None

_COLUMNS = ("first_name", "patronymic", "last_name")


def upgrade():
    # Plain ADD COLUMN: a batch rebuild of contacts on SQLite would drop a table that messages reference and lose
    # its expression index (audience.models.CITY_MATCH).
    for name in _COLUMNS:
        op.add_column("contacts", sa.Column(name, sa.String(length=100), nullable=True))


def downgrade():
    # SQLite 3.35+ drops a column in place, as PostgreSQL does.
    for name in reversed(_COLUMNS):
        op.execute(f"ALTER TABLE contacts DROP COLUMN {name}")
