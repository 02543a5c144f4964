"""The one status transition table for volumes, snapshots and backups, and its checks.

Routes set the transitional status (guarded here), flows set the terminal one; admin
`os-reset_status` bypasses the table on purpose. A few volume edges are also guarded by
the statuses of the volume's snapshots, and callers may report a snapshot's status
within Cinder's os-update_snapshot_status table. States and edges: docs/states.md.
"""

from __future__ import annotations

from collections.abc import Mapping

from storage.catalog.models import BackupStatus as B
from storage.catalog.models import SnapshotStatus as S
from storage.catalog.models import VolumeStatus as V
from storage.catalog.share_models import ShareBackupStatus as SB
from storage.catalog.share_models import ShareStatus as SH
from storage.errors import InvalidStatus

BACKUP_TRANSITIONS: Mapping[str, frozenset[str]] = {
    B.CREATING: frozenset({B.AVAILABLE, B.ERROR}),
    B.AVAILABLE: frozenset({B.RESTORING, B.DELETING}),
    # A failed restore leaves the backup itself intact: it goes back to available.
    B.RESTORING: frozenset({B.AVAILABLE}),
    B.ERROR: frozenset({B.DELETING}),
    B.DELETING: frozenset({B.ERROR_DELETING}),  # success removes the row
    B.ERROR_DELETING: frozenset({B.DELETING}),
}

VOLUME_TRANSITIONS: Mapping[str, frozenset[str]] = {
    V.CREATING: frozenset({V.AVAILABLE, V.RESTORING_BACKUP, V.ERROR}),
    V.MANAGING: frozenset({V.AVAILABLE, V.ERROR_MANAGING}),
    V.AVAILABLE: frozenset({V.BACKING_UP, V.RESTORING_BACKUP, V.DELETING, V.IN_USE}),
    V.IN_USE: frozenset({V.BACKING_UP, V.AVAILABLE}),
    V.BACKING_UP: frozenset({V.AVAILABLE, V.IN_USE}),
    V.RESTORING_BACKUP: frozenset({V.AVAILABLE, V.ERROR_RESTORING, V.ERROR}),
    V.DELETING: frozenset({V.ERROR_DELETING}),  # success removes the row
    V.ERROR: frozenset({V.DELETING}),
    V.ERROR_DELETING: frozenset({V.DELETING}),
    V.ERROR_RESTORING: frozenset({V.DELETING}),
    V.ERROR_MANAGING: frozenset({V.DELETING}),
}

SNAPSHOT_TRANSITIONS: Mapping[str, frozenset[str]] = {
    S.CREATING: frozenset({S.AVAILABLE, S.ERROR}),
    S.AVAILABLE: frozenset({S.BACKING_UP, S.DELETING}),
    S.BACKING_UP: frozenset({S.AVAILABLE}),  # a backup of it ended, whatever the outcome
    S.ERROR: frozenset({S.DELETING}),
    S.DELETING: frozenset({S.ERROR_DELETING}),  # success removes the row
    S.ERROR_DELETING: frozenset({S.DELETING}),
}

# os-update_snapshot_status (Cinder's snapshot_actions): the statuses a caller may report
# for a snapshot in each status; a snapshot in another status cannot be updated at all.
SNAPSHOT_STATUS_UPDATES: Mapping[str, frozenset[str]] = {
    S.CREATING: frozenset({S.CREATING, S.AVAILABLE, S.ERROR}),
    S.DELETING: frozenset({S.DELETING, S.ERROR_DELETING}),
}

# Volume edges that a snapshot of the volume in one of these statuses forbids: a restore
# must not overwrite the file a create-snapshot run is still copying.
VOLUME_EDGES_BLOCKED_BY_SNAPSHOTS: Mapping[tuple[str, str], frozenset[str]] = {
    (V.AVAILABLE, V.RESTORING_BACKUP): frozenset({S.CREATING}),
}

# Statuses a flow run is expected to move on from; a row stuck here after its run
# ended is repaired by reconcile (and by the API when it renders the row).
BACKUP_TRANSITIONAL = frozenset({B.CREATING, B.RESTORING, B.DELETING})
VOLUME_TRANSITIONAL = frozenset(
    {V.CREATING, V.MANAGING, V.BACKING_UP, V.RESTORING_BACKUP, V.DELETING}
)
# A snapshot's own runs; backing-up is held by a backup's run and released with it.
SNAPSHOT_TRANSITIONAL = frozenset({S.CREATING, S.DELETING})


# Manila (FIELDS.md 11.2): a share is held by one backup or restore at a time; a failed
# restore leaves it backup_restoring_error (its contents may be partly restored), from
# which only another restore or a delete moves it.
SHARE_TRANSITIONS: Mapping[str, frozenset[str]] = {
    SH.CREATING: frozenset({SH.AVAILABLE, SH.ERROR}),
    SH.MANAGE_STARTING: frozenset({SH.AVAILABLE, SH.MANAGE_ERROR}),
    SH.AVAILABLE: frozenset(
        {SH.BACKUP_CREATING, SH.BACKUP_RESTORING, SH.DELETING, SH.UNMANAGE_STARTING}
    ),
    SH.BACKUP_CREATING: frozenset({SH.AVAILABLE}),
    SH.BACKUP_RESTORING: frozenset({SH.AVAILABLE, SH.BACKUP_RESTORING_ERROR}),
    SH.BACKUP_RESTORING_ERROR: frozenset({SH.BACKUP_RESTORING, SH.DELETING}),
    SH.DELETING: frozenset({SH.ERROR_DELETING}),  # success removes the row
    SH.UNMANAGE_STARTING: frozenset({SH.UNMANAGE_ERROR}),  # success removes the row
    SH.ERROR: frozenset({SH.DELETING}),
    SH.ERROR_DELETING: frozenset({SH.DELETING}),
    SH.MANAGE_ERROR: frozenset({SH.DELETING, SH.UNMANAGE_STARTING}),
    SH.UNMANAGE_ERROR: frozenset({SH.UNMANAGE_STARTING}),
}

SHARE_BACKUP_TRANSITIONS: Mapping[str, frozenset[str]] = {
    SB.CREATING: frozenset({SB.AVAILABLE, SB.ERROR}),
    SB.AVAILABLE: frozenset({SB.RESTORING, SB.DELETING}),
    SB.RESTORING: frozenset({SB.AVAILABLE}),  # the backup itself is intact either way
    SB.ERROR: frozenset({SB.DELETING}),
    SB.DELETING: frozenset({SB.ERROR_DELETING}),  # success removes the row
    SB.ERROR_DELETING: frozenset({SB.DELETING}),
}

SHARE_TRANSITIONAL = frozenset(
    {
        SH.CREATING,
        SH.MANAGE_STARTING,
        SH.BACKUP_CREATING,
        SH.BACKUP_RESTORING,
        SH.DELETING,
        SH.UNMANAGE_STARTING,
    }
)
SHARE_BACKUP_TRANSITIONAL = frozenset({SB.CREATING, SB.RESTORING, SB.DELETING})
_SHARE_FAILURES: Mapping[str, str] = {
    SH.BACKUP_CREATING: SH.AVAILABLE,  # a backup only read the tree
    SH.BACKUP_RESTORING: SH.BACKUP_RESTORING_ERROR,
    SH.DELETING: SH.ERROR_DELETING,
    SH.MANAGE_STARTING: SH.MANAGE_ERROR,
    SH.UNMANAGE_STARTING: SH.UNMANAGE_ERROR,
}


def entering(table: Mapping[str, frozenset[str]], target: str) -> frozenset[str]:
    """The statuses from which ``table`` allows a move to ``target``."""
    return frozenset(status for status, targets in table.items() if target in targets)


def _check(table: Mapping[str, frozenset[str]], kind: str, current: str, target: str) -> None:
    if target not in table.get(current, frozenset()):
        raise InvalidStatus(f"Invalid {kind} status transition from '{current}' to '{target}'.")


def check_backup_transition(current: str, target: str) -> None:
    """Raise InvalidStatus unless a backup may move from current to target."""
    _check(BACKUP_TRANSITIONS, "backup", current, target)


def check_volume_transition(current: str, target: str) -> None:
    """Raise InvalidStatus unless a volume may move from current to target."""
    _check(VOLUME_TRANSITIONS, "volume", current, target)


def check_snapshot_transition(current: str, target: str) -> None:
    """Raise InvalidStatus unless a snapshot may move from current to target."""
    _check(SNAPSHOT_TRANSITIONS, "snapshot", current, target)


def check_snapshot_status_update(current: str, target: str) -> None:
    """Raise InvalidStatus (Cinder's messages) unless os-update_snapshot_status may move a
    snapshot from current to target."""
    if current not in SNAPSHOT_STATUS_UPDATES:
        raise InvalidStatus(f"Snapshot status {current} not allowed for update_snapshot_status")
    if target not in SNAPSHOT_STATUS_UPDATES[current]:
        raise InvalidStatus(
            f"Provided snapshot status {target} not allowed for snapshot with status {current}."
        )


def snapshots_blocking(current: str, target: str) -> frozenset[str]:
    """The statuses of a volume's snapshots that forbid its move from current to target."""
    return VOLUME_EDGES_BLOCKED_BY_SNAPSHOTS.get((current, target), frozenset())


def share_failure_status(status: str) -> str:
    """The terminal status a share takes when the run driving `status` fails."""
    return _SHARE_FAILURES.get(status, SH.ERROR)


def share_backup_failure_status(status: str) -> str:
    """The terminal status a share backup takes when the run driving `status` fails."""
    if status == SB.DELETING:
        return SB.ERROR_DELETING
    if status == SB.RESTORING:
        return SB.AVAILABLE
    return SB.ERROR


def snapshot_failure_status(status: str, previous: str | None = None) -> str:
    """The terminal status a snapshot takes when the run driving `status` fails."""
    if status == S.DELETING:
        return S.ERROR_DELETING
    if status == S.BACKING_UP:
        return previous or S.AVAILABLE  # the copy itself is intact
    return S.ERROR


def backup_failure_status(status: str) -> str:
    """The terminal status a backup takes when the run driving `status` fails."""
    if status == B.DELETING:
        return B.ERROR_DELETING
    if status == B.RESTORING:
        return B.AVAILABLE
    return B.ERROR


def volume_failure_status(status: str, previous: str | None) -> str:
    """The terminal status a volume takes when the run driving `status` fails."""
    if status == V.BACKING_UP:
        return previous or V.AVAILABLE
    if status == V.RESTORING_BACKUP:
        # A volume made for the restore never held user data: plain error, as Cinder.
        return V.ERROR if previous == V.CREATING else V.ERROR_RESTORING
    if status == V.DELETING:
        return V.ERROR_DELETING
    if status == V.MANAGING:
        return V.ERROR_MANAGING
    return V.ERROR
