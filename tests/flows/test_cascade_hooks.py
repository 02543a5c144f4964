"""The delete-backup-tree hooks, without a Prefect server: what a failed tree leaves."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

from sqlmodel import Session

from flows.cascade import TREE_HOOKS, tree_run_ended
from storage import catalog
from storage.catalog import Backup, Volume


def _chain(session: Session, volume_id: str, length: int) -> list[str]:
    ids = []
    for n in range(length):
        b = catalog.begin_backup(
            session=session, project_id="p", user_id="u", volume_id=volume_id, incremental=n > 0
        )
        catalog.finish_backup(session=session, backup_id=b.id, object_count=1, stored_bytes=1)
        session.expire_all()
        ids.append(b.id)
    return ids


def test_every_way_a_tree_run_ends_is_hooked() -> None:
    assert set(TREE_HOOKS) == {"on_failure", "on_crashed", "on_cancellation"}
    assert all(hooks == [tree_run_ended] for hooks in TREE_HOOKS.values())


def test_failed_tree_leaves_its_remaining_members_error_deleting(
    flow_catalog: Session, volume: Volume
) -> None:
    full, inc1, inc2 = _chain(flow_catalog, volume.id, 3)
    members = [
        b.id
        for b in catalog.begin_cascade_delete(session=flow_catalog, backup_id=full, project_id="p")
    ]
    assert members == [inc2, inc1, full]
    run_id = str(uuid.uuid4())
    catalog.attach_cascade_run(session=flow_catalog, backup_ids=members, flow_run_id=run_id)
    catalog.finish_backup_delete(session=flow_catalog, backup_id=inc2)  # deleted before the crash
    flow_run = SimpleNamespace(id=run_id, parameters={"backup_id": full, "backup_ids": members})
    state = SimpleNamespace(type=SimpleNamespace(value="CRASHED"), message="worker lost")
    tree_run_ended(None, flow_run, state)
    tree_run_ended(None, flow_run, state)  # hooks may run twice (runner and API): harmless
    flow_catalog.expire_all()
    rows = [flow_catalog.get(Backup, b) for b in members]
    assert rows[0] is None
    assert [(r.status, r.fail_reason) for r in rows[1:] if r is not None] == [
        ("error_deleting", f"flow run {run_id} crashed: worker lost")
    ] * 2
    assert catalog.resumes_cascade(session=flow_catalog, backup_id=full, project_id="p")
