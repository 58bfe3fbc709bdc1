"""The inbox: an index of the outbound conversation messages not settled yet (queued or sending), for the
sweep that sends again what a lost job or a dead worker left behind.

Revision ID: 0009_inbox
Revises: 0008_feedback_loop
Create Date: 2026-12-02 12:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0009_inbox'
down_revision = '0008_feedback_loop'
branch_labels = None
depends_on = None

PENDING = sa.text("status IN ('queued', 'sending')")


def upgrade():
    op.create_index("ix_conversation_messages_pending", "conversation_messages", ["id"], postgresql_where=PENDING,
                    sqlite_where=PENDING)


def downgrade():
    op.drop_index("ix_conversation_messages_pending", table_name="conversation_messages")
