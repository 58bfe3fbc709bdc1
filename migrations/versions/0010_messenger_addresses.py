"""Messenger addresses: contacts and senders without a number (bots, people who came in through a bot), a
contact's addresses on each bot with their own opt-in evidence, conversations keyed by a bot address,
suppressions keyed by a messenger address and scoped to the person or one address, the bot address of a
message, and a reviewer's written acknowledgement of a channel warning.

SQLite cannot drop a NOT NULL, so ``contacts``, ``senders`` and ``suppressions`` are rebuilt there. Other
tables reference the first two, and with foreign keys enforced SQLite's DROP TABLE deletes (or refuses
to delete) the rows that point at them; so the rebuild runs with enforcement off, outside a transaction
(the pragma is ignored inside one), and the indexes SQLAlchemy cannot reflect on SQLite (expressions,
partial ones) are dropped before and created again after.

Revision ID: 0010_messenger_addresses
Revises: 0009_inbox
Create Date: 2026-12-04 18:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

from dbtypes import sqlite_foreign_keys_off

# revision identifiers, used by Alembic.
revision = '0010_messenger_addresses'
down_revision = '0009_inbox'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OPEN = sa.text("lifted_at IS NULL")
CITY_MATCH = [sa.text("coalesce('#' || CAST(place_id AS VARCHAR), city_key)"), 'country']


def _nullable(table: str, column: str, nullable: bool) -> None:
    with op.batch_alter_table(table) as batch_op:
        batch_op.alter_column(column, existing_type=sa.String(16), nullable=nullable)


def _open_index(name: str, column: str) -> None:
    op.create_index(name, "suppressions", [column, "reason"], unique=True, sqlite_where=OPEN, postgresql_where=OPEN)


def upgrade():
    op.drop_index("ix_contacts_city_match", table_name="contacts")
    op.drop_index("uq_suppressions_open", table_name="suppressions", sqlite_where=OPEN, postgresql_where=OPEN)
    with sqlite_foreign_keys_off(op):
        _nullable("contacts", "phone", True)
        _nullable("senders", "phone", True)
        with op.batch_alter_table("suppressions") as batch_op:
            batch_op.alter_column("phone", existing_type=sa.String(16), nullable=True)
            batch_op.add_column(sa.Column("address_key", sa.String(100), nullable=True))
            batch_op.add_column(sa.Column("scope", sa.String(16), nullable=False, server_default="person"))
            batch_op.create_index(batch_op.f("ix_suppressions_address_key"), ["address_key"], unique=False)
        # A conversation is keyed by a bot address too (a MAX user id is an int64: up to 20 characters).
        with op.batch_alter_table("conversations") as batch_op:
            batch_op.alter_column("phone", existing_type=sa.String(16), type_=sa.String(64), existing_nullable=False)
    op.create_index("ix_contacts_city_match", "contacts", CITY_MATCH, unique=False,
                    postgresql_include=["place_id", "city_key"])
    _open_index("uq_suppressions_open", "phone")
    _open_index("uq_suppressions_open_address", "address_key")

    op.add_column("senders", sa.Column("bot_username", sa.String(64), nullable=False, server_default=""))
    op.add_column("messages", sa.Column("address", sa.String(64), nullable=True))
    op.add_column("campaign_reviews", sa.Column("acknowledgement", sa.Text(), nullable=True))

    op.create_table(
        "contact_addresses",
        sa.Column("id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("sender_id", BigId, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("address_key", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("profile_name", sa.String(200), nullable=False),
        sa.Column("consent_source", sa.String(300), nullable=False),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entry_point_id", sa.Integer(), nullable=True),
        sa.Column("consent_event_id", sa.String(128), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_evidence", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_contact_addresses_contact_id_contacts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["sender_id"], ["senders.id"], name=op.f("fk_contact_addresses_sender_id_senders"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_addresses")),
        sa.UniqueConstraint("sender_id", "address", name=op.f("uq_contact_addresses_sender_id")),
    )
    op.create_index(op.f("ix_contact_addresses_contact_id"), "contact_addresses", ["contact_id"], unique=False)
    op.create_index(op.f("ix_contact_addresses_address_key"), "contact_addresses", ["address_key"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_contact_addresses_address_key"), table_name="contact_addresses")
    op.drop_index(op.f("ix_contact_addresses_contact_id"), table_name="contact_addresses")
    op.drop_table("contact_addresses")
    op.drop_column("campaign_reviews", "acknowledgement")
    op.drop_column("messages", "address")
    op.drop_column("senders", "bot_username")
    # Rows without a number cannot survive the NOT NULL again: messenger-only suppressions, contacts and bots.
    op.execute("DELETE FROM suppressions WHERE phone IS NULL")
    op.execute("DELETE FROM messages WHERE contact_id IN (SELECT id FROM contacts WHERE phone IS NULL)")
    op.execute("DELETE FROM contacts WHERE phone IS NULL")
    op.execute("DELETE FROM senders WHERE phone IS NULL")
    op.execute("DELETE FROM conversations WHERE length(phone) > 16")
    op.drop_index("ix_contacts_city_match", table_name="contacts")
    op.drop_index("uq_suppressions_open_address", table_name="suppressions", sqlite_where=OPEN, postgresql_where=OPEN)
    op.drop_index("uq_suppressions_open", table_name="suppressions", sqlite_where=OPEN, postgresql_where=OPEN)
    with sqlite_foreign_keys_off(op):
        with op.batch_alter_table("suppressions") as batch_op:
            batch_op.drop_index(batch_op.f("ix_suppressions_address_key"))
            batch_op.drop_column("scope")
            batch_op.drop_column("address_key")
            batch_op.alter_column("phone", existing_type=sa.String(16), nullable=False)
        with op.batch_alter_table("conversations") as batch_op:
            batch_op.alter_column("phone", existing_type=sa.String(64), type_=sa.String(16), existing_nullable=False)
        _nullable("senders", "phone", False)
        _nullable("contacts", "phone", False)
    op.create_index("ix_contacts_city_match", "contacts", CITY_MATCH, unique=False,
                    postgresql_include=["place_id", "city_key"])
    _open_index("uq_suppressions_open", "phone")
