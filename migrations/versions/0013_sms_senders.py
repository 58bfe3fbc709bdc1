"""SMS senders: an SMS gateway account's login and the approved alpha name its messages come from.

The password is ``access_token`` and the callback URL's secret ``app_secret``, encrypted as every sender's
secrets; ``channel`` is a string column, so the new channel ``smsc`` needs no change to it.

Revision ID: 0013_sms_senders
Revises: 0012_cascades
Create Date: 2026-12-08 00:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0013_sms_senders'
down_revision = '0012_cascades'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN (SQLite takes it with a default): a batch rebuild of senders would have to drop a table
    # that messages and campaigns reference.
    op.add_column("senders", sa.Column("login", sa.String(length=64), nullable=False, server_default=""))
    op.add_column("senders", sa.Column("alpha_name", sa.String(length=11), nullable=False, server_default=""))


def downgrade():
    # SQLite 3.35+ drops a column in place, as PostgreSQL does.
    op.execute("ALTER TABLE senders DROP COLUMN alpha_name")
    op.execute("ALTER TABLE senders DROP COLUMN login")
