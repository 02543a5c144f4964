"""Shares and share backups end to end: python-manilaclient (2.80 and 2.91) against
`safehold run` — real Prefect server and runner, every operation a flow run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from manilaclient import api_versions
from manilaclient import client as manila_client
from manilaclient import exceptions as manila_exc

from tests.e2e.helpers import wait_for
from tests.live import Service
from tests.trees import GIB, allocated, build_every_kind, walk

pytestmark = pytest.mark.e2e
PROJECT = "e2e0000000000000000000000000007"


def manila(service: Service, version: str, user: str = "admin") -> Any:
    """python-manilaclient as CLIENTS.md sets it up (noauth token user:project)."""
    return manila_client.Client(
        api_versions.APIVersion(version),
        input_auth_token=f"{user}:{PROJECT}",
        service_catalog_url=service.manila_url + "/v2",
    )


@pytest.fixture(scope="module")
def m80(service: Service) -> Any:
    return manila(service, "2.80")


@pytest.fixture(scope="module")
def m91(service: Service) -> Any:
    return manila(service, "2.91")


def _share(client: Any, size: int = 2, name: str = "e2e") -> tuple[Any, Path]:
    created = client.shares.create("NFS", size, name=name)
    share = wait_for(lambda: client.shares.get(created.id), {"available", "error"})
    assert share.status == "available"
    [location] = client.share_export_locations.list(share)
    return share, Path(location.path)


def _backup(client: Any, share: Any, **kwargs: Any) -> Any:
    created = client.share_backups.create(share, **kwargs)
    assert created.status == "creating"
    backup = wait_for(lambda: client.share_backups.get(created.id), {"available", "error"})
    assert backup.status == "available", getattr(backup, "fail_reason", None)
    assert client.shares.get(share.id).status == "available"
    return backup


def _restore(client: Any, backup: Any, *target: str) -> None:
    client.share_backups.restore(backup.id, *target)
    done = wait_for(lambda: client.share_backups.get(backup.id), {"available", "error"})
    assert done.restore_progress == "100"


def test_every_entry_kind_round_trips_into_the_source_and_another_share(m80: Any, m91: Any) -> None:
    share, root = _share(m80)
    build_every_kind(root)
    before = walk(root)
    backup = _backup(m80, share, name="every-kind", description="all entry kinds")
    assert backup.progress == "100" and backup.size >= 2
    # The share changes after the backup: the restore must undo every change.
    shutil.rmtree(root / "docs")
    (root / "bin.dat").write_bytes(b"overwritten")
    (root / "new-file").write_text("not in the backup")
    os.mkdir(root / "new-dir")
    _restore(m80, backup)
    share = wait_for(lambda: m80.shares.get(share.id), {"available", "backup_restoring_error"})
    assert share.status == "available"
    assert walk(root) == before
    assert allocated(root / "sparse.img") < 16 * 1024 * 1024 < GIB
    # From 2.91 into another share, whose own files go.
    target, target_root = _share(m91, name="target")
    (target_root / "junk").write_text("removed by the restore")
    _restore(m91, backup, target.id)
    assert walk(target_root) == before
    assert walk(root) == before


def _packed(service: Service, share_id: str, backup_id: str) -> int:
    """Bytes of the packs the backup wrote itself (the file:// store under the data dir)."""
    packs = service.data_dir / "backups" / "shares" / share_id / "packs"
    return sum(p.stat().st_size for p in packs.glob(f"{backup_id}-*"))


def test_incrementals_restore_on_their_own_and_full_can_be_forced(
    m80: Any, service: Service
) -> None:
    share, root = _share(m80)
    for i in range(50):
        (root / f"file-{i:03d}.txt").write_text(f"file {i}\n" * (100 + i))
    full = _backup(m80, share, name="full")
    (root / "file-007.txt").write_text("changed\n")
    (root / "file-049.txt").unlink()
    state = walk(root)
    incremental = _backup(m80, share, name="incremental")
    forced = _backup(m80, share, name="forced", backup_options={"full": "true"})
    # Stored: the incremental only the changed file, the forced full everything again.
    stored = {b.name: _packed(service, share.id, b.id) for b in (full, incremental, forced)}
    assert 0 < stored["incremental"] < stored["full"] // 10
    assert stored["forced"] >= stored["full"] * 0.9
    m80.share_backups.delete(full)
    wait_gone(m80, full.id)
    for path in root.iterdir():
        path.unlink()
    _restore(m80, incremental)
    assert walk(root) == state
    (root / "file-000.txt").write_text("after the forced full\n")
    _restore(m80, forced)
    assert walk(root) == state


def test_backup_admin_actions_refusals_and_share_delete(m80: Any, service: Service) -> None:
    small, small_root = _share(m80, size=1)
    m80.shares.update(small, display_name="renamed")
    assert m80.shares.get(small.id).name == "renamed"
    big, big_root = _share(m80, size=3)
    (big_root / "x").write_text("x")
    backup = _backup(m80, big, name="listed")
    listed = m80.share_backups.list(search_opts={"share_id": big.id})
    assert [b.id for b in listed] == [backup.id]
    m80.share_backups.update(backup, name="renamed", description="new words")
    shown = m80.share_backups.get(backup.id)
    assert (shown.name, shown.description) == ("renamed", "new words")
    with pytest.raises(manila_exc.BadRequest):  # onto a smaller share
        manila(service, "2.91").share_backups.restore(backup.id, small.id)
    assert m80.shares.get(small.id).status == "available"  # nothing changed
    with pytest.raises(manila_exc.NotFound):
        m80.share_backups.get("00000000-0000-0000-0000-000000000000")
    other = manila_client.Client(
        api_versions.APIVersion("2.80"),
        input_auth_token="someone:e2e0000000000000000000000000099",
        service_catalog_url=service.manila_url + "/v2",
    )
    with pytest.raises(manila_exc.NotFound):  # another project's backup
        other.share_backups.get(backup.id)
    m80.share_backups.reset_status(backup, "error")
    assert m80.share_backups.get(backup.id).status == "error"
    m80.share_backups.delete(backup)
    wait_gone(m80, backup.id)
    m80.shares.delete(small)
    wait_share_gone(m80, small.id)
    assert not small_root.exists()


def wait_gone(client: Any, backup_id: str) -> None:
    """Until the backup is deleted (NotFound)."""
    try:
        wait_for(lambda: client.share_backups.get(backup_id), {"error_deleting"}, timeout=60)
    except manila_exc.NotFound:
        return
    raise AssertionError(f"backup {backup_id} could not be deleted")


def wait_share_gone(client: Any, share_id: str) -> None:
    """Until the share is deleted (NotFound)."""
    try:
        wait_for(lambda: client.shares.get(share_id), {"error_deleting"}, timeout=60)
    except manila_exc.NotFound:
        return
    raise AssertionError(f"share {share_id} could not be deleted")
