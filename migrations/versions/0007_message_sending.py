"""Messages get what sending needs: attempts, a not-before time, a lease, the provider's id, the
provider's error, the times of each status and the price category; and the indexes the per-number
look-ups (frequency cap, the tier's unique recipients, the monthly free allowance) need now that they
count ``sent_at`` instead of ``created_at``.

The two new states (``unknown``, ``deferred``) need no DDL: the status is a plain string column of
length 16 (no native enum, no check constraint). Existing rows keep their status; none of them has a
send time, since nothing sent before dispatch existed.

Revision ID: 0007_message_sending
Revises: 0006_sender_channels
Create Date: 2026-12-02 03:10:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0007_message_sending'
down_revision = '0006_sender_channels'
branch_labels = None
depends_on = None

TIMES = ("not_before", "lease_until", "sent_at", "delivered_at", "read_at", "failed_at")
INDEXES = (("ix_messages_phone_sent_at", ["phone", "sent_at"]), ("ix_messages_sent_at", ["sent_at"]),
           ("ix_messages_provider_message_id", ["provider_message_id"]))


def upgrade():
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        for name in TIMES:
            batch_op.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("provider_message_id", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("error_code", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("error_message", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("price_category", sa.String(length=32), nullable=True))
    with op.batch_alter_table("messages", schema=None) as batch_op:
        # The server default only filled the existing rows; the model sets the value from now on.
        batch_op.alter_column("attempts", existing_type=sa.Integer(), server_default=None)
        for name, columns in INDEXES:
            batch_op.create_index(name, columns, unique=False)


def downgrade():
    with op.batch_alter_table("messages", schema=None) as batch_op:
        for name, _columns in INDEXES:
            batch_op.drop_index(name)
        for name in ("price_category", "error_message", "error_code", "provider_message_id", "lease_owner",
                     *reversed(TIMES), "attempts"):
            batch_op.drop_column(name)
