"""Entry points: the public subscribe pages with their codes, counters and offered senders, the personal tokens
minted for known contacts, and one row per start that came through them (a redelivered update is no second one).

New tables only: nothing on SQLite needs a rebuild.

Revision ID: 0011_entry_points
Revises: 0010_messenger_addresses
Create Date: 2026-12-04 18:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0011_entry_points'
down_revision = '0010_messenger_addresses'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
At = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"),
                                   ondelete=ondelete)


def upgrade():
    op.create_table(
        "entry_points",
        sa.Column("id", BigId, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("keyword", sa.String(32), nullable=False),
        sa.Column("campaign_id", BigId, nullable=True),
        sa.Column("source_label", sa.String(100), nullable=False),
        sa.Column("expires_at", At, nullable=True),
        sa.Column("archived_at", At, nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", At, nullable=False),
        sa.Column("updated_at", At, nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("starts", sa.Integer(), nullable=False),
        sa.Column("opt_ins", sa.Integer(), nullable=False),
        _fk("entry_points", "campaign_id", "campaigns", "SET NULL"),
        _fk("entry_points", "created_by_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entry_points")),
        sa.UniqueConstraint("code", name=op.f("uq_entry_points_code")),
    )
    op.create_table(
        "entry_point_senders",
        sa.Column("entry_point_id", BigId, nullable=False),
        sa.Column("sender_id", BigId, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _fk("entry_point_senders", "entry_point_id", "entry_points", "CASCADE"),
        _fk("entry_point_senders", "sender_id", "senders", "CASCADE"),
        sa.PrimaryKeyConstraint("entry_point_id", "sender_id", name=op.f("pk_entry_point_senders")),
    )
    op.create_index(op.f("ix_entry_point_senders_sender_id"), "entry_point_senders", ["sender_id"], unique=False)
    op.create_table(
        "entry_tokens",
        sa.Column("id", BigId, nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("entry_point_id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("expires_at", At, nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("last_used_at", At, nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", At, nullable=False),
        _fk("entry_tokens", "entry_point_id", "entry_points", "CASCADE"),
        _fk("entry_tokens", "contact_id", "contacts", "CASCADE"),
        _fk("entry_tokens", "created_by_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entry_tokens")),
        sa.UniqueConstraint("token", name=op.f("uq_entry_tokens_token")),
    )
    op.create_index(op.f("ix_entry_tokens_entry_point_id"), "entry_tokens", ["entry_point_id"], unique=False)
    op.create_index(op.f("ix_entry_tokens_contact_id"), "entry_tokens", ["contact_id"], unique=False)
    op.create_table(
        "entry_starts",
        sa.Column("id", BigId, nullable=False),
        sa.Column("entry_point_id", BigId, nullable=False),
        sa.Column("sender_id", BigId, nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("token_id", BigId, nullable=True),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("contact_id", BigId, nullable=True),
        sa.Column("opted_in", sa.Boolean(), nullable=False),
        sa.Column("at", At, nullable=False),
        _fk("entry_starts", "entry_point_id", "entry_points", "CASCADE"),
        _fk("entry_starts", "sender_id", "senders", "CASCADE"),
        _fk("entry_starts", "token_id", "entry_tokens", "SET NULL"),
        _fk("entry_starts", "contact_id", "contacts", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entry_starts")),
        sa.UniqueConstraint("sender_id", "event_id", name=op.f("uq_entry_starts_sender_id")),
    )
    op.create_index(op.f("ix_entry_starts_entry_point_id"), "entry_starts", ["entry_point_id"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_entry_starts_entry_point_id"), table_name="entry_starts")
    op.drop_table("entry_starts")
    op.drop_index(op.f("ix_entry_tokens_contact_id"), table_name="entry_tokens")
    op.drop_index(op.f("ix_entry_tokens_entry_point_id"), table_name="entry_tokens")
    op.drop_table("entry_tokens")
    op.drop_index(op.f("ix_entry_point_senders_sender_id"), table_name="entry_point_senders")
    op.drop_table("entry_point_senders")
    op.drop_table("entry_points")
