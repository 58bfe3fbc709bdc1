"""The suppression list (history kept, one open entry per number and reason) and compliance settings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 11:03:38.727266

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('compliance_settings',
    sa.Column('key', sa.String(length=32), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_compliance_settings_updated_by_id_users')),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_compliance_settings'))
    )
    op.create_table(
        "suppressions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column(
            "reason",
            sa.Enum(
                "opt_out", "block", "spam_report", "manual", name="suppressionreason", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("evidence", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_label", sa.String(length=254), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by_id", sa.Integer(), nullable=True),
        sa.Column("lifted_by_label", sa.String(length=254), nullable=True),
        sa.Column("lift_reason", sa.Text(), nullable=True),
        sa.Column("lift_evidence", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_suppressions_actor_id_users")),
        sa.ForeignKeyConstraint(["lifted_by_id"], ["users.id"], name=op.f("fk_suppressions_lifted_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
    )
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_suppressions_phone'), ['phone'], unique=False)
        batch_op.create_index(
            "uq_suppressions_open",
            ["phone", "reason"],
            unique=True,
            sqlite_where=sa.text("lifted_at IS NULL"),
            postgresql_where=sa.text("lifted_at IS NULL"),
        )


def downgrade():
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.drop_index(
            "uq_suppressions_open",
            sqlite_where=sa.text("lifted_at IS NULL"),
            postgresql_where=sa.text("lifted_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f('ix_suppressions_phone'))

    op.drop_table('suppressions')
    op.drop_table('compliance_settings')
