"""database instances and their backups (Trove)

Revision ID: 0005_databases
Revises: 0004_shares
Create Date: 2026-11-29 07:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


revision = "0005_databases"
down_revision = "0004_shares"
branch_labels = None
depends_on = None


def _s(length: int | None = None) -> sa.types.TypeEngine:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _times() -> list[sa.Column]:
    return [
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "db_instances",
        sa.Column("id", _s(36), nullable=False),
        sa.Column("project_id", _s(255), nullable=False),
        sa.Column("user_id", _s(255), nullable=False),
        sa.Column("name", _s(255), nullable=False),
        sa.Column("datastore", _s(32), nullable=False),
        sa.Column("datastore_version", _s(64), nullable=False),
        sa.Column("database", _s(64), nullable=False),
        sa.Column("volume_size", sa.Integer(), nullable=False),
        sa.Column("managed", sa.Boolean(), nullable=False),
        sa.Column("used_bytes", sa.BigInteger(), nullable=False),
        sa.Column("status", _s(32), nullable=False),
        sa.Column("restore_backup_id", _s(36), nullable=True),
        sa.Column("fail_reason", _s(), nullable=True),
        sa.Column("flow_run_id", _s(36), nullable=True),
        sa.Column("op_token", _s(36), nullable=True),
        *_times(),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("db_instances", schema=None) as batch_op:
        batch_op.create_index("ix_db_instances_project_id", ["project_id"], unique=False)
        batch_op.create_index("ix_db_instances_status", ["status"], unique=False)

    op.create_table(
        "db_backups",
        sa.Column("id", _s(36), nullable=False),
        sa.Column("project_id", _s(255), nullable=False),
        sa.Column("user_id", _s(255), nullable=False),
        sa.Column("instance_id", _s(36), nullable=True),
        sa.Column("owner_id", _s(36), nullable=False),
        sa.Column("parent_id", _s(36), nullable=True),
        sa.Column("name", _s(255), nullable=False),
        sa.Column("description", _s(255), nullable=True),
        sa.Column("datastore", _s(32), nullable=False),
        sa.Column("datastore_version", _s(64), nullable=False),
        sa.Column("status", _s(32), nullable=False),
        sa.Column("fail_reason", _s(), nullable=True),
        sa.Column("status_before_delete", _s(32), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("stored_bytes", sa.BigInteger(), nullable=False),
        sa.Column("progress_done", sa.BigInteger(), nullable=False),
        sa.Column("progress_total", sa.BigInteger(), nullable=False),
        sa.Column("flow_run_id", _s(36), nullable=True),
        sa.Column("op_token", _s(36), nullable=True),
        *_times(),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("db_backups", schema=None) as batch_op:
        batch_op.create_index("ix_db_backups_project_id", ["project_id"], unique=False)
        batch_op.create_index("ix_db_backups_instance_id", ["instance_id"], unique=False)
        batch_op.create_index("ix_db_backups_parent_id", ["parent_id"], unique=False)
        batch_op.create_index("ix_db_backups_status", ["status"], unique=False)


def downgrade() -> None:
    op.drop_table("db_backups")
    op.drop_table("db_instances")
