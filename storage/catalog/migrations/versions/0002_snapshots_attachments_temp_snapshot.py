"""snapshots, volume attachments, and the backup's temporary snapshot path

Revision ID: 0002_snapshots
Revises: 0001
Create Date: 2026-11-24 09:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


revision = "0002_snapshots"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "snapshots",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("project_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("volume_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("previous_status", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("progress", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("group_snapshot_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("consumes_quota", sa.Boolean(), nullable=False),
        sa.Column("path", sqlmodel.sql.sqltypes.AutoString(length=4096), nullable=False),
        sa.Column("fail_reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("flow_run_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("op_token", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_snapshots_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_snapshots_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_snapshots_volume_id"), ["volume_id"], unique=False)

    op.create_table(
        "volume_attachments",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("volume_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("instance_uuid", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("attached_host", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("mountpoint", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("attach_mode", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column("attached_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("volume_attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_volume_attachments_volume_id"), ["volume_id"], unique=False
        )

    with op.batch_alter_table("backups", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "temp_snapshot_path",
                sqlmodel.sql.sqltypes.AutoString(length=4096),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("backups", schema=None) as batch_op:
        batch_op.drop_column("temp_snapshot_path")
    with op.batch_alter_table("volume_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_volume_attachments_volume_id"))
    op.drop_table("volume_attachments")
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_snapshots_volume_id"))
        batch_op.drop_index(batch_op.f("ix_snapshots_status"))
        batch_op.drop_index(batch_op.f("ix_snapshots_project_id"))
    op.drop_table("snapshots")
