"""Senders reach a provider (channel, ids, base URL, API version, encrypted secrets, what the last
check read), and templates are approved per business account.

Existing senders were all the sandbox's: they get the sandbox's default number and account. Existing
templates that had a provider status keep it, now recorded for every account a sender has, so what
campaigns could use before they can use after.

Revision ID: 0006_sender_channels
Revises: 0005_import_merges
Create Date: 2026-12-02 01:10:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0006_sender_channels'
down_revision = '0005_import_merges'
branch_labels = None
depends_on = None

TEMPLATE_STATUSES = ("draft", "pending", "approved", "rejected", "paused", "disabled")
# The sandbox provider's defaults (channels/sandbox): its one number and its business account.
SANDBOX = {"phone_number_id": "100000000000001", "waba_id": "200000000000001",
           "base_url": "http://127.0.0.1:8025", "api_version": "v23.0"}


def upgrade():
    with op.batch_alter_table("senders", schema=None) as batch_op:
        for name, length in (("phone_number_id", 64), ("waba_id", 64), ("base_url", 500), ("api_version", 16)):
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=False, server_default=""))
        for name in ("access_token", "app_secret", "verify_token"):
            batch_op.add_column(sa.Column(f"{name}_encrypted", sa.Text(), nullable=True))
            batch_op.add_column(sa.Column(f"{name}_last4", sa.String(length=4), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("quality_rating", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("provider_tier", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("verified_name", sa.String(length=200), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("check_error_code", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("check_error_params", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    senders = sa.table("senders", sa.column("channel", sa.String), sa.column("created_at", sa.DateTime),
                       sa.column("updated_at", sa.DateTime), *(sa.column(name, sa.String) for name in SANDBOX))
    op.execute(senders.update().where(senders.c.channel == "sandbox").values(**SANDBOX))
    op.execute(senders.update().values(updated_at=senders.c.created_at))
    with op.batch_alter_table("senders", schema=None) as batch_op:
        batch_op.alter_column("updated_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        # The server defaults only filled the existing rows; the model sets every value from now on.
        for name in ("phone_number_id", "waba_id", "base_url", "api_version", "access_token_last4",
                     "app_secret_last4", "verify_token_last4", "verified_name"):
            batch_op.alter_column(name, server_default=None)

    op.create_table(
        "template_approvals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("template_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=False),
        sa.Column("provider_template_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.Enum(*TEMPLATE_STATUSES, name="templatestatus", native_enum=False, length=16),
                  nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("source", sa.Enum("provider", "admin", name="approvalsource", native_enum=False, length=16),
                  nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["template_id"], ["templates.id"],
                                name=op.f("fk_template_approvals_template_id_templates"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_template_approvals")),
        sa.UniqueConstraint("template_id", "account_id", "base_url", name=op.f("uq_template_approvals_template_id")),
    )
    with op.batch_alter_table("template_approvals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_template_approvals_template_id"), ["template_id"], unique=False)
    # What a template's provider status was, it stays, in every account a sender has.
    op.execute(
        "INSERT INTO template_approvals (template_id, account_id, base_url, status, reason, source, submitted_at, "
        "decided_at, updated_at) "
        "SELECT t.id, a.waba_id, a.base_url, t.status, t.rejection_reason, 'admin', t.updated_at, "
        "CASE WHEN t.status = 'pending' THEN NULL ELSE t.updated_at END, t.updated_at "
        "FROM templates t CROSS JOIN (SELECT DISTINCT waba_id, base_url FROM senders) a "
        "WHERE t.status <> 'draft'"
    )


def downgrade():
    with op.batch_alter_table("template_approvals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_template_approvals_template_id"))
    op.drop_table("template_approvals")
    with op.batch_alter_table("senders", schema=None) as batch_op:
        for name in ("updated_at", "check_error_params", "check_error_code", "checked_at", "verified_name",
                     "provider_tier", "quality_rating", "verify_token_last4", "verify_token_encrypted",
                     "app_secret_last4", "app_secret_encrypted", "access_token_last4", "access_token_encrypted",
                     "api_version", "base_url", "waba_id", "phone_number_id"):
            batch_op.drop_column(name)
