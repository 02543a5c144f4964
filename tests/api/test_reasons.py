"""Failure reasons: admins read the detail, tenants a stable message with no host details."""

from __future__ import annotations

import pytest

from api.views.reasons import shown_reason

RUN = "flow run 0d5c3f2e-1111-2222-3333-444455556666"


@pytest.mark.parametrize(
    ("recorded", "tenant"),
    [
        (
            f"{RUN} failed: Flow run encountered an exception: ObjectNotFound: "
            "backups/abc/segments/00000003 (s3://secret-bucket/prefix)",
            f"{RUN} failed: backup data is missing from the backup store",
        ),
        (
            f"{RUN} failed: Task run encountered an exception CorruptData: sha256 mismatch "
            "in /var/lib/safehold/volumes/x.img",
            f"{RUN} failed: stored backup data failed verification",
        ),
        (
            f"{RUN} failed: Flow run encountered an exception: LostOwnership: backup b is error",
            f"{RUN} failed: the operation was ended by another request (an administrator)",
        ),
        (
            f"{RUN} failed: OSError: [Errno 28] No space left on device: '/srv/volumes/v.img'",
            f"{RUN} failed: an internal error; an administrator can read the details",
        ),
        (
            f"{RUN} crashed: exit code -9 on host db7",
            f"{RUN} crashed: the process running the operation stopped",
        ),
        (f"{RUN} cancelled: by jane from 10.1.2.3", f"{RUN} cancelled"),
        (f"{RUN} no longer exists", f"{RUN} no longer exists"),
        (
            "status reset from creating by an administrator",
            "status reset from creating by an administrator",
        ),
        (None, None),
    ],
)
def test_tenants_read_a_stable_reason(recorded: str | None, tenant: str | None) -> None:
    assert shown_reason(recorded, admin=False) == tenant
    assert shown_reason(recorded, admin=True) == recorded
