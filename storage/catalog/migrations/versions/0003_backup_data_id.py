"""backups.data_id: the stored backup a row reads; Cinder-style backup service name

Revision ID: 0003_data_id
Revises: 0002_snapshots
Create Date: 2026-11-29 00:30:00.000000
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0003_data_id"
down_revision = "0002_snapshots"
branch_labels = None
depends_on = None

_OLD_SERVICE = "safehold.block.v1"
_NEW_SERVICE = "cinder.backup.drivers.safehold.BlockV1Driver"


def upgrade() -> None:
    with op.batch_alter_table("backups") as batch:
        batch.add_column(
            sa.Column(
                "data_id",
                sqlmodel.sql.sqltypes.AutoString(length=36),
                nullable=False,
                server_default="",
            )
        )
    # Every row so far reads its own stored backup.
    op.execute("UPDATE backups SET data_id = id")
    op.execute(f"UPDATE backups SET service = '{_NEW_SERVICE}' WHERE service = '{_OLD_SERVICE}'")
    with op.batch_alter_table("backups") as batch:
        batch.alter_column("data_id", server_default=None)
        batch.create_index(batch.f("ix_backups_data_id"), ["data_id"], unique=False)


def downgrade() -> None:
    op.execute(f"UPDATE backups SET service = '{_OLD_SERVICE}' WHERE service = '{_NEW_SERVICE}'")
    with op.batch_alter_table("backups") as batch:
        batch.drop_index(batch.f("ix_backups_data_id"))
        batch.drop_column("data_id")
