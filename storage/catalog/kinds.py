"""Resource kinds, declared once: what each table's lifecycle needs to be driven by runs.

A kind names its table, its transitional statuses (a run is expected to move the row
on), how a run that ended badly settles it, and — for rows a run of another kind holds
(a volume backing up, a share being restored) — which row drives it. Repair on read
(api), reconcile (flows) and the run hooks all go through here, so a new resource kind
is a declaration, not another copy of each.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlmodel import Session, SQLModel, col, select

from storage.catalog import db_backups, db_instances, lifecycle
from storage.catalog.backups import backup_for_volume_run, fail_operation
from storage.catalog.db_models import DbBackup, DbInstance
from storage.catalog.models import Backup, Snapshot, Volume
from storage.catalog.share_backups import fail_share_backup, share_backup_for_run
from storage.catalog.share_models import Share, ShareBackup
from storage.catalog.shares import fail_share
from storage.catalog.snapshots import fail_snapshot
from storage.catalog.volumes import fail_volume

Row = Backup | Volume | Snapshot | Share | ShareBackup | DbInstance | DbBackup
# fail(session, record_id, reason, run_ids) -> whether the row moved.
FailFn = Callable[[Session, str, str, Collection[str]], bool]


@dataclass(frozen=True)
class Kind:
    """One resource kind's lifecycle facts."""

    name: str  # as in flow parameters: "<name>_id", and in logs
    model: type[SQLModel]
    transitional: frozenset[str]
    fail: FailFn
    # The row whose run holds this one in a transitional status, if another row's run
    # drives it (a backup holds its volume): that row is settled instead.
    held_by: Callable[[Session, Any], Row | None] | None = None
    # The flow parameter naming the row (default "<name>_id").
    parameter: str = ""

    @property
    def param(self) -> str:
        """The flow parameter that names a row of this kind."""
        return self.parameter or f"{self.name}_id"


KINDS: Final[Mapping[str, Kind]] = {
    kind.name: kind
    for kind in (
        Kind(
            "backup",
            Backup,
            lifecycle.BACKUP_TRANSITIONAL,
            lambda s, i, r, runs: fail_operation(session=s, backup_id=i, reason=r, run_ids=runs),
        ),
        Kind(
            "volume",
            Volume,
            lifecycle.VOLUME_TRANSITIONAL,
            lambda s, i, r, runs: fail_volume(session=s, volume_id=i, reason=r, run_ids=runs),
            lambda s, row: backup_for_volume_run(session=s, volume=row),
        ),
        Kind(
            "snapshot",
            Snapshot,
            lifecycle.SNAPSHOT_TRANSITIONAL,
            lambda s, i, r, runs: fail_snapshot(session=s, snapshot_id=i, reason=r, run_ids=runs),
        ),
        Kind(
            "share",
            Share,
            lifecycle.SHARE_TRANSITIONAL,
            lambda s, i, r, runs: fail_share(session=s, share_id=i, reason=r, run_ids=runs),
            lambda s, row: share_backup_for_run(session=s, share=row),
        ),
        Kind(
            "share_backup",
            ShareBackup,
            lifecycle.SHARE_BACKUP_TRANSITIONAL,
            lambda s, i, r, runs: fail_share_backup(session=s, backup_id=i, reason=r, run_ids=runs),
            parameter="backup_id",
        ),
        Kind(
            "db_instance",
            DbInstance,
            db_instances.TRANSITIONAL,
            lambda s, i, r, runs: db_instances.fail_instance(
                session=s, instance_id=i, reason=r, run_ids=runs
            ),
            lambda s, row: db_instances.backup_holding(session=s, instance=row),
            parameter="instance_id",
        ),
        Kind(
            "db_backup",
            DbBackup,
            db_backups.TRANSITIONAL,
            lambda s, i, r, runs: db_backups.fail_db_backup(
                session=s, backup_id=i, reason=r, run_ids=runs
            ),
            parameter="backup_id",
        ),
    )
}
_BY_MODEL: Final = {kind.model: kind for kind in KINDS.values()}


def kind_of(row: Row) -> Kind:
    """The kind a row belongs to."""
    return _BY_MODEL[type(row)]


def is_transitional(row: Row) -> bool:
    """True iff some flow run is expected to move the row on."""
    return row.status in kind_of(row).transitional


def driver(session: Session, row: Row) -> Row:
    """The row whose run drives ``row`` now: the holder, or the row itself."""
    held_by = kind_of(row).held_by
    holder = held_by(session, row) if held_by is not None else None
    return holder if holder is not None else row


def driving_run(session: Session, row: Row) -> str | None:
    """The id of the run expected to move ``row`` on (None: not recorded yet)."""
    return driver(session, row).flow_run_id


def repair_after_run(*, session: Session, record: Row, reason: str) -> bool:
    """Move a record (and what its run held) to its terminal error state; idempotent."""
    row = driver(session, record)
    return kind_of(row).fail(session, row.id, reason, ())


def transitional_rows(*, session: Session) -> list[Row]:
    """Every row of every kind in a status some flow run is expected to move on from."""
    rows: list[Row] = []
    for kind in KINDS.values():
        table: Any = kind.model
        stmt = select(table).where(col(table.status).in_(list(kind.transitional)))
        rows.extend(session.exec(stmt))
    return rows
