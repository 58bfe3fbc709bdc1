"""Cascades: a campaign's ordered channels, and each message row's cascade step, its sender and when the cascade
fell back from it. A row is unique per (campaign, contact, step) instead of per (campaign, contact).

SQLite cannot change a unique constraint in place, so ``messages`` is rebuilt there; other tables reference it
(``ON DELETE SET NULL``) and with foreign keys enforced SQLite's DROP TABLE would null those references, so the
rebuild runs with enforcement off, outside a transaction (the pragma is ignored inside one). Downgrading deletes
the rows of later steps: one row per (campaign, contact) is all the old schema can hold.

Revision ID: 0012_cascades
Revises: 0011_entry_points
Create Date: 2026-12-07 23:50:00.000000

"""
import sqlalchemy as sa
from alembic import op

from dbtypes import sqlite_foreign_keys_off

# revision identifiers, used by Alembic.
revision = '0012_cascades'
down_revision = '0011_entry_points'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UNIQUE = "uq_messages_campaign_id"


def upgrade():
    op.add_column("campaigns", sa.Column("cascade", sa.JSON(), nullable=True))
    with sqlite_foreign_keys_off(op), op.batch_alter_table("messages") as batch_op:
        batch_op.add_column(sa.Column("step", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("sender_id", BigId, nullable=True))
        batch_op.add_column(sa.Column("fallback_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_messages_sender_id_senders"), "senders", ["sender_id"], ["id"])
        batch_op.drop_constraint(UNIQUE, type_="unique")
        batch_op.create_unique_constraint(UNIQUE, ["campaign_id", "contact_id", "step"])


def downgrade():
    op.execute("DELETE FROM messages WHERE step > 0")
    with sqlite_foreign_keys_off(op), op.batch_alter_table("messages") as batch_op:
        batch_op.drop_constraint(UNIQUE, type_="unique")
        batch_op.create_unique_constraint(UNIQUE, ["campaign_id", "contact_id"])
        batch_op.drop_constraint(batch_op.f("fk_messages_sender_id_senders"), type_="foreignkey")
        batch_op.drop_column("fallback_at")
        batch_op.drop_column("sender_id")
        batch_op.drop_column("step")
    with sqlite_foreign_keys_off(op), op.batch_alter_table("campaigns") as batch_op:
        batch_op.drop_column("cascade")
