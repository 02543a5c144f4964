"""backup policies, and the policy that made each backup

Revision ID: 0006_policies
Revises: 0005_databases
Create Date: 2026-11-29 09:30:00.000000
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


revision = "0006_policies"
down_revision = "0005_databases"
branch_labels = None
depends_on = None

BACKUP_TABLES = ("backups", "share_backups", "db_backups")


def _s(length: int | None = None) -> sa.types.TypeEngine:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "policies",
        sa.Column("id", _s(36), nullable=False),
        sa.Column("project_id", _s(255), nullable=False),
        sa.Column("user_id", _s(255), nullable=False),
        sa.Column("name", _s(255), nullable=False),
        sa.Column("description", _s(255), nullable=True),
        sa.Column("target_kind", _s(16), nullable=False),
        sa.Column("target_id", _s(36), nullable=True),
        sa.Column("target_metadata", sa.JSON(), nullable=True),
        sa.Column("cron", _s(255), nullable=True),
        sa.Column("timezone", _s(64), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=True),
        sa.Column("full_every_runs", sa.Integer(), nullable=True),
        sa.Column("full_every_days", sa.Integer(), nullable=True),
        sa.Column("start_window_seconds", sa.Integer(), nullable=False),
        sa.Column("retention", sa.JSON(), nullable=True),
        sa.Column("status", _s(16), nullable=False),
        sa.Column("schedule_id", _s(36), nullable=True),
        _when("last_run_at"),
        sa.Column("last_run_state", _s(32), nullable=True),
        sa.Column("last_run_flow_run_id", _s(36), nullable=True),
        sa.Column("last_run_reason", _s(), nullable=True),
        _when("last_success_at"),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("missed_runs", sa.Integer(), nullable=False),
        _when("last_missed_at"),
        _when("created_at", nullable=False),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("policies", schema=None) as batch_op:
        batch_op.create_index("ix_policies_project_id", ["project_id"], unique=False)
    for table in BACKUP_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("policy_id", _s(36), nullable=True))
            batch_op.create_index(f"ix_{table}_policy_id", ["policy_id"], unique=False)


def downgrade() -> None:
    for table in BACKUP_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_policy_id")
            batch_op.drop_column("policy_id")
    op.drop_table("policies")
