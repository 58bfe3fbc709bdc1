"""The feedback loop: stored webhook bodies, conversations and their messages (the inbox), notifications for
reviewers; messages gain what the provider charges and the first reply; campaigns say why they are paused.

Revision ID: 0008_feedback_loop
Revises: 0007_message_sending
Create Date: 2026-12-02 10:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0008_feedback_loop'
down_revision = '0007_message_sending'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "webhook_events",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("sender_id", BigId, sa.ForeignKey("senders.id", ondelete="SET NULL"), nullable=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        sa.Column("processed_at", UTC, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.UniqueConstraint("sender_id", "digest"),
    )
    op.create_index("ix_webhook_events_pending", "webhook_events", ["id"],
                    postgresql_where=sa.text("processed_at IS NULL"), sqlite_where=sa.text("processed_at IS NULL"))
    op.create_table(
        "conversations",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("sender_id", BigId, sa.ForeignKey("senders.id", ondelete="CASCADE"), nullable=False),
        sa.Column("phone", sa.String(16), nullable=False),
        sa.Column("contact_id", BigId, sa.ForeignKey("contacts.id", ondelete="SET NULL"), nullable=True),
        sa.Column("profile_name", sa.String(200), nullable=False),
        sa.Column("provider_user_id", sa.String(64), nullable=True),
        sa.Column("last_inbound_at", UTC, nullable=True),
        sa.Column("last_message_at", UTC, nullable=False),
        sa.Column("unread", sa.Integer(), nullable=False),
        sa.Column("needs_decision", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.UniqueConstraint("sender_id", "phone"),
    )
    op.create_index("ix_conversations_contact_id", "conversations", ["contact_id"])
    op.create_index("ix_conversations_inbox", "conversations", ["unread", "last_message_at"])
    op.create_table(
        "conversation_messages",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("conversation_id", BigId, sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("provider_message_id", sa.String(128), nullable=True),
        sa.Column("idempotency_key", sa.String(64), nullable=True, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("button_payload", sa.String(256), nullable=True),
        sa.Column("message_id", BigId, sa.ForeignKey("messages.id", ondelete="SET NULL"), nullable=True),
        sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id", ondelete="SET NULL"), nullable=True),
        sa.Column("intent", sa.String(16), nullable=True),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("sent_by_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("at", UTC, nullable=False),
        sa.UniqueConstraint("conversation_id", "provider_message_id"),
    )
    op.create_index("ix_conversation_messages_thread", "conversation_messages", ["conversation_id", "at"])
    op.create_index("ix_conversation_messages_message_id", "conversation_messages", ["message_id"])
    op.create_index("ix_conversation_messages_campaign_id", "conversation_messages", ["campaign_id"])
    op.create_table(
        "notifications",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=True),
        sa.Column("sender_id", BigId, sa.ForeignKey("senders.id", ondelete="CASCADE"), nullable=True),
        sa.Column("conversation_id", BigId, sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("resolved_at", UTC, nullable=True),
        sa.Column("resolved_by_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    )
    op.create_index("ix_notifications_campaign_id", "notifications", ["campaign_id"])
    op.create_index("ix_notifications_created_at", "notifications", ["created_at"])
    op.create_table(
        "notification_reads",
        sa.Column("notification_id", BigId, sa.ForeignKey("notifications.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("read_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("notification_id", "user_id"),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("billable", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("cost_minor", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("replied_at", UTC, nullable=True))
    # Plain ADD COLUMN, not a batch copy: on SQLite a batch drops and recreates the table, and dropping
    # campaigns would cascade to every message row.
    op.add_column("campaigns", sa.Column("pause_reason", sa.String(64), nullable=True))
    op.add_column("campaigns", sa.Column("pause_details", sa.JSON(), nullable=True))
    op.add_column("campaigns", sa.Column("paused_at", UTC, nullable=True))


def downgrade():
    for name in ("paused_at", "pause_details", "pause_reason"):
        op.execute(f"ALTER TABLE campaigns DROP COLUMN {name}")  # SQLite ≥ 3.35 drops in place (see upgrade)
    with op.batch_alter_table("messages", schema=None) as batch_op:
        for name in ("replied_at", "cost_minor", "billable"):
            batch_op.drop_column(name)
    for table in ("notification_reads", "notifications", "conversation_messages", "conversations", "webhook_events"):
        op.drop_table(table)
