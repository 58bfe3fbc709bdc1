"""The rows of an import merged into a later row of the same number, for its report.

Revision ID: 0005_import_merges
Revises: 0004
Create Date: 2026-12-01 22:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0005_import_merges'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "audience_import_merges",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("import_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("into_row", sa.Integer(), nullable=False),
        sa.Column("number_end", sa.String(length=4), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["audience_imports.id"],
            name=op.f("fk_audience_import_merges_import_id_audience_imports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audience_import_merges")),
    )
    with op.batch_alter_table('audience_import_merges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audience_import_merges_import_id'), ['import_id'], unique=False)


def downgrade():
    with op.batch_alter_table('audience_import_merges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audience_import_merges_import_id'))

    op.drop_table('audience_import_merges')
