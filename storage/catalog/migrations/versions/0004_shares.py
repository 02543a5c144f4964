"""shares and share backups (Manila)

Revision ID: 0004_shares
Revises: 0003_data_id
Create Date: 2026-11-29 09:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


revision = "0004_shares"
down_revision = "0003_data_id"
branch_labels = None
depends_on = None


def _s(length: int | None = None) -> sa.types.TypeEngine:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "shares",
        sa.Column("id", _s(36), nullable=False),
        sa.Column("project_id", _s(255), nullable=False),
        sa.Column("user_id", _s(255), nullable=False),
        sa.Column("name", _s(255), nullable=True),
        sa.Column("description", _s(255), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("share_proto", _s(32), nullable=False),
        sa.Column("share_type", _s(255), nullable=True),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("status", _s(32), nullable=False),
        sa.Column("path", _s(4096), nullable=False),
        sa.Column("managed", sa.Boolean(), nullable=False),
        sa.Column("availability_zone", _s(255), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("fail_reason", _s(), nullable=True),
        sa.Column("flow_run_id", _s(36), nullable=True),
        sa.Column("op_token", _s(36), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("shares", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shares_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_shares_status"), ["status"], unique=False)

    op.create_table(
        "share_backups",
        sa.Column("id", _s(36), nullable=False),
        sa.Column("project_id", _s(255), nullable=False),
        sa.Column("user_id", _s(255), nullable=False),
        sa.Column("share_id", _s(36), nullable=False),
        sa.Column("parent_id", _s(36), nullable=True),
        sa.Column("name", _s(255), nullable=True),
        sa.Column("description", _s(255), nullable=True),
        sa.Column("status", _s(32), nullable=False),
        sa.Column("fail_reason", _s(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("object_count", sa.Integer(), nullable=False),
        sa.Column("stored_bytes", sa.BigInteger(), nullable=False),
        sa.Column("availability_zone", _s(255), nullable=True),
        sa.Column("host", _s(255), nullable=False),
        sa.Column("topic", _s(255), nullable=False),
        sa.Column("backup_type", _s(32), nullable=False),
        sa.Column("options", sa.JSON(), nullable=True),
        sa.Column("stats", sa.JSON(), nullable=True),
        sa.Column("restore_share_id", _s(36), nullable=True),
        sa.Column("flow_run_id", _s(36), nullable=True),
        sa.Column("op_token", _s(36), nullable=True),
        sa.Column("progress_done", sa.BigInteger(), nullable=False),
        sa.Column("progress_total", sa.BigInteger(), nullable=False),
        sa.Column("progress", _s(8), nullable=False),
        sa.Column("restore_progress", _s(8), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("share_backups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_share_backups_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_share_backups_share_id"), ["share_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_share_backups_parent_id"), ["parent_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_share_backups_status"), ["status"], unique=False)


def downgrade() -> None:
    op.drop_table("share_backups")
    op.drop_table("shares")
