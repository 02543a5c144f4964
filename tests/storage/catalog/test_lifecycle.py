"""The transition table: every edge allowed, everything else refused."""

from __future__ import annotations

import itertools

import pytest

from storage.catalog import lifecycle
from storage.catalog.models import BackupStatus, VolumeStatus
from storage.errors import InvalidStatus


@pytest.mark.parametrize(
    ("current", "target"), itertools.product(list(BackupStatus), list(BackupStatus))
)
def test_backup_table_is_the_only_authority(current: str, target: str) -> None:
    allowed = target in lifecycle.BACKUP_TRANSITIONS.get(current, frozenset())
    if allowed:
        lifecycle.check_backup_transition(current, target)
    else:
        with pytest.raises(InvalidStatus):
            lifecycle.check_backup_transition(current, target)


def test_failure_statuses_are_reachable_edges() -> None:
    for status in lifecycle.BACKUP_TRANSITIONAL:
        lifecycle.check_backup_transition(status, lifecycle.backup_failure_status(status))
    previous_by_status = {
        VolumeStatus.BACKING_UP: (VolumeStatus.AVAILABLE, VolumeStatus.IN_USE),
        VolumeStatus.RESTORING_BACKUP: (VolumeStatus.AVAILABLE, VolumeStatus.CREATING),
    }
    for status in lifecycle.VOLUME_TRANSITIONAL:
        for previous in previous_by_status.get(status, (None,)):
            target = lifecycle.volume_failure_status(status, previous)
            lifecycle.check_volume_transition(status, target)


def test_restore_into_new_volume_fails_to_plain_error() -> None:
    assert lifecycle.volume_failure_status("restoring-backup", "creating") == "error"
    assert lifecycle.volume_failure_status("restoring-backup", "available") == "error_restoring"
    assert lifecycle.volume_failure_status("backing-up", "in-use") == "in-use"
