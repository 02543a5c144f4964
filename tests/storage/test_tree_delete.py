"""Tree backups: deleting any backup of a chain keeps the others restorable; packs go last."""

from __future__ import annotations

import itertools
import random
import shutil
from pathlib import Path

import pytest

from storage.format.tree import backup as backup_module
from storage.format.tree import (
    delete_tree_backup,
    list_tree_manifests,
    read_tree_manifest,
    restore_tree_backup,
)
from storage.layout import pack_key, packs_prefix, share_prefix, tree_manifest_key
from storage.objects import ObjectStore
from tests.storage.test_tree_support import (
    KIB,
    SHARE,
    assert_same_tree,
    back_up,
    file_store,
    memory_store,
)

IDS = ("b1", "b2", "b3")


@pytest.fixture(autouse=True)
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trust ctimes up to the parent's start: incrementals then share the parent's packs."""
    monkeypatch.setattr(backup_module, "RACY_NS", 0)


def _write(path: Path, rng: random.Random, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(rng.randbytes(size))


def _chain(store: ObjectStore, tmp_path: Path) -> dict[str, Path]:
    """Three backups b1 <- b2 <- b3 of a changing tree; backup id -> a copy of its source."""
    rng = random.Random(4)
    source = tmp_path / "src"
    for n in range(40):
        _write(source / f"d{n % 4}" / f"f{n:02d}", rng, rng.randint(1, 30) * KIB)
    copies: dict[str, Path] = {}
    parent = None
    for step, backup_id in enumerate(IDS):
        if step:  # each step deletes, rewrites and adds files: each backup owns packs
            for n in range(step * 10, step * 10 + 5):
                (source / f"d{n % 4}" / f"f{n:02d}").unlink()
            for n in range(step * 10 + 5, step * 10 + 8):
                _write(source / f"d{n % 4}" / f"f{n:02d}", rng, 12 * KIB)
            _write(source / f"new-{step}" / "data", rng, 40 * KIB)
        back_up(store, source, backup_id, parent=parent, pack_size=64 * KIB)
        parent = read_tree_manifest(store, share_id=SHARE, backup_id=backup_id)
        copies[backup_id] = tmp_path / f"copy-{backup_id}"
        shutil.copytree(source, copies[backup_id], symlinks=True)
        shutil.copystat(source, copies[backup_id])
    return copies


def _stored_packs(store: ObjectStore) -> set[str]:
    return set(store.list(packs_prefix(SHARE)))


def _referenced_packs(store: ObjectStore, remaining: list[str]) -> set[str]:
    packs: set[str] = set()
    for backup_id in remaining:
        packs.update(read_tree_manifest(store, share_id=SHARE, backup_id=backup_id).packs)
    return packs


def _check_all_restore(
    store: ObjectStore, remaining: list[str], copies: dict[str, Path], tmp_path: Path
) -> None:
    for backup_id in remaining:
        target = tmp_path / f"restore-{backup_id}"
        restore_tree_backup(store, share_id=SHARE, backup_id=backup_id, target_dir=target)
        assert_same_tree(copies[backup_id], target)


@pytest.mark.parametrize("order", list(itertools.permutations(IDS)), ids="-".join)
def test_deleting_in_any_order_keeps_the_rest_restorable(
    order: tuple[str, ...], tmp_path: Path
) -> None:
    store = memory_store()
    copies = _chain(store, tmp_path)
    manifests = {i: read_tree_manifest(store, share_id=SHARE, backup_id=i) for i in IDS}
    # Incrementals reference their ancestors' packs, and every backup owns some packs.
    assert set(manifests["b1"].packs) & set(manifests["b3"].packs)
    assert all(manifests[i].own_packs for i in IDS)
    remaining = list(IDS)
    for backup_id in order:
        deleted = delete_tree_backup(store, share_id=SHARE, backup_id=backup_id)
        remaining.remove(backup_id)
        assert deleted >= 1  # at least the manifest
        assert list_tree_manifests(store) == [(SHARE, i) for i in remaining]
        # Exactly the packs some remaining backup references are left: none lost, none leaked.
        assert _stored_packs(store) == _referenced_packs(store, remaining)
        _check_all_restore(store, remaining, copies, tmp_path / backup_id)
    assert store.list(share_prefix(SHARE)) == []


def test_delete_on_a_file_store_leaves_an_empty_share(tmp_path: Path) -> None:
    store = file_store(tmp_path)
    _chain(store, tmp_path)
    for backup_id in ("b2", "b1", "b3"):
        delete_tree_backup(store, share_id=SHARE, backup_id=backup_id)
    assert store.list(share_prefix(SHARE)) == []
    assert not (tmp_path / "store" / "shares" / SHARE).exists()


def test_delete_is_idempotent(tmp_path: Path) -> None:
    store = memory_store()
    _chain(store, tmp_path)
    own = len(read_tree_manifest(store, share_id=SHARE, backup_id="b3").own_packs)
    assert delete_tree_backup(store, share_id=SHARE, backup_id="b3") == own + 1
    assert delete_tree_backup(store, share_id=SHARE, backup_id="b3") == 0
    assert delete_tree_backup(store, share_id=SHARE, backup_id="never-was") == 0


def test_delete_removes_the_leftovers_of_an_uncommitted_attempt(tmp_path: Path) -> None:
    store = memory_store()
    copies = _chain(store, tmp_path)
    before = _stored_packs(store)
    source = tmp_path / "src"
    _write(source / "more" / "data", random.Random(8), 200 * KIB)

    def refuse() -> None:
        raise RuntimeError("lost the row")

    parent = read_tree_manifest(store, share_id=SHARE, backup_id="b3")
    with pytest.raises(RuntimeError):
        back_up(store, source, "b4", parent=parent, pack_size=64 * KIB, before_commit=refuse)
    leftovers = _stored_packs(store) - before
    assert leftovers and all(key.startswith(pack_key(SHARE, "b4", 0)[:-6]) for key in leftovers)

    assert delete_tree_backup(store, share_id=SHARE, backup_id="b4") == len(leftovers)

    assert _stored_packs(store) == before
    _check_all_restore(store, list(IDS), copies, tmp_path)


def test_an_unreadable_manifest_keeps_every_candidate_pack(tmp_path: Path) -> None:
    store = memory_store()
    _chain(store, tmp_path)
    key = tree_manifest_key(SHARE, "b2")
    store.put(key, b"garbage" + store.get(key)[7:])
    before = _stored_packs(store)

    assert delete_tree_backup(store, share_id=SHARE, backup_id="b1") == 1

    assert _stored_packs(store) == before  # b2 might need any of them
    # The damaged manifest itself can still be deleted (with its own-named packs).
    delete_tree_backup(store, share_id=SHARE, backup_id="b2")
    assert not store.exists(key)
    restore_tree_backup(store, share_id=SHARE, backup_id="b3", target_dir=tmp_path / "r")


def test_other_shares_are_untouched(tmp_path: Path) -> None:
    store = memory_store()
    source = tmp_path / "other"
    _write(source / "f", random.Random(1), 10 * KIB)
    back_up(store, source, "b1", share_id="share-2")
    _chain(store, tmp_path)
    for backup_id in IDS:
        delete_tree_backup(store, share_id=SHARE, backup_id=backup_id)
    assert list_tree_manifests(store) == [("share-2", "b1")]
    restore_tree_backup(store, share_id="share-2", backup_id="b1", target_dir=tmp_path / "r")
    assert (tmp_path / "r" / "f").read_bytes() == (source / "f").read_bytes()
