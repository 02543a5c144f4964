"""Tree backups: incrementals read only changed files, store only new chunks, stand alone."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from storage.format.tree import (
    TreeManifest,
    delete_tree_backup,
    read_tree_manifest,
    restore_tree_backup,
)
from storage.format.tree import backup as backup_module
from storage.layout import packs_prefix
from storage.objects import ObjectStore
from tests.storage.test_tree_support import (
    AVG,
    KIB,
    MIB,
    SHARE,
    assert_same_tree,
    back_up,
    file_store,
    memory_store,
)


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    return memory_store() if request.param == "memory" else file_store(tmp_path)


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trust ctimes right up to the parent's start: the tests' files are seconds old, and
    every change they make alters size or mtime explicitly (see test_racy_files_are_read)."""
    monkeypatch.setattr(backup_module, "RACY_NS", 0)


def _build_tree(root: Path, files: int = 300, seed: int = 3) -> dict[Path, int]:
    """``files`` incompressible files of 1-48 KiB in 10 directories; path -> size."""
    rng = random.Random(seed)
    sizes = {}
    for n in range(files):
        directory = root / f"dir-{n % 10:02d}"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"file-{n:04d}.bin"
        size = rng.randint(1 * KIB, 48 * KIB)
        path.write_bytes(rng.randbytes(size))
        sizes[path] = size
    return sizes


def _parent(store: ObjectStore, backup_id: str) -> TreeManifest:
    return read_tree_manifest(store, share_id=SHARE, backup_id=backup_id)


def test_incremental_reads_only_changed_files(
    store: ObjectStore, tmp_path: Path, settled: None
) -> None:
    source = tmp_path / "src"
    sizes = _build_tree(source)
    full = back_up(store, source, "b1")
    rng = random.Random(9)
    paths = sorted(sizes)
    # About 2 % of the files change: rewritten, appended to, created; one is deleted.
    rewritten, appended = paths[10:13], paths[100:102]
    changed = 0
    for path in rewritten:
        path.write_bytes(rng.randbytes(sizes[path] + 100))
        changed += sizes[path] + 100
    for path in appended:
        with path.open("ab") as f:
            f.write(rng.randbytes(3000))
        changed += sizes[path] + 3000
    (source / "dir-03" / "new.bin").write_bytes(rng.randbytes(20 * KIB))
    changed += 20 * KIB
    paths[200].unlink()

    incremental = back_up(store, source, "b2", parent=_parent(store, "b1"))

    stats = incremental.stats
    assert stats.bytes_read == changed  # only the changed files were read
    assert stats.bytes_reused == stats.bytes_total - changed
    assert stats.stored_bytes <= 1.5 * changed
    assert stats.files == full.stats.files  # one new, one deleted
    assert incremental.object_count == stats.packs_written + 1 < full.object_count
    # The incremental restores exactly on its own, with its parent deleted.
    delete_tree_backup(store, share_id=SHARE, backup_id="b1")
    target = tmp_path / "restored"
    restore_tree_backup(store, share_id=SHARE, backup_id="b2", target_dir=target)
    assert_same_tree(source, target)


def test_one_byte_change_stores_about_one_chunk(tmp_path: Path, settled: None) -> None:
    store = memory_store()
    source = tmp_path / "src"
    source.mkdir()
    big = source / "big.bin"
    big.write_bytes(random.Random(1).randbytes(4 * MIB))
    back_up(store, source, "b1")
    parent = _parent(store, "b1")
    with big.open("r+b") as f:
        f.seek(2 * MIB + 12345)
        f.write(b"\x00" if f.read(1) != b"\x00" else b"\x01")
    stat = big.stat()
    os.utime(big, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # in case the tick did not move

    result = back_up(store, source, "b2", parent=parent)

    stats = result.stats
    assert stats.bytes_read == 4 * MIB
    assert 1 <= stats.chunks_new <= 2  # the chunk holding the byte (rarely, its neighbour)
    assert stats.chunks_deduplicated >= parent.chunk_count - 2
    assert stats.stored_bytes <= 2 * 4 * AVG + 16  # at most two maximal chunks, one header
    target = tmp_path / "restored"
    restore_tree_backup(store, share_id=SHARE, backup_id="b2", target_dir=target)
    assert_same_tree(source, target)


def test_racy_files_are_read_again(tmp_path: Path) -> None:
    store = memory_store()
    source = tmp_path / "src"
    _build_tree(source, files=20)
    back_up(store, source, "b1")
    # Files changed within RACY_NS of the parent's start are never trusted unread.
    again = back_up(store, source, "b2", parent=_parent(store, "b1"))
    assert again.stats.bytes_reused == 0 and again.stats.bytes_read == again.stats.bytes_total
    assert again.stats.chunks_new == 0 and again.stats.packs_written == 0


def test_metadata_change_rereads_but_stores_nothing(tmp_path: Path, settled: None) -> None:
    store = memory_store()
    source = tmp_path / "src"
    sizes = _build_tree(source, files=30)
    back_up(store, source, "b1")
    touched = sorted(sizes)[:3]
    for path in touched:
        os.chmod(path, 0o600)  # ctime moves, content does not
    renamed = sorted(sizes)[5]
    renamed.rename(renamed.with_name("renamed.bin"))

    result = back_up(store, source, "b2", parent=_parent(store, "b1"))

    assert result.stats.bytes_read == sum(sizes[p] for p in touched) + sizes[renamed]
    assert result.stats.chunks_new == 0 and result.stats.packs_written == 0
    assert result.object_count == 1
    target = tmp_path / "restored"
    restore_tree_backup(store, share_id=SHARE, backup_id="b2", target_dir=target)
    assert_same_tree(source, target)


def test_identical_files_are_stored_once(tmp_path: Path) -> None:
    store = memory_store()
    source = tmp_path / "src"
    source.mkdir()
    data = random.Random(5).randbytes(1 * MIB)
    for name in ("a.bin", "b.bin", "c.bin"):
        (source / name).write_bytes(data)

    result = back_up(store, source, "b1")

    assert result.stats.bytes_read == 3 * MIB
    assert result.stats.stored_bytes < 1.1 * MIB
    assert result.stats.chunks_deduplicated == 2 * result.stats.chunks_new
    manifest = _parent(store, "b1")
    assert manifest.chunk_count == result.stats.chunks_new  # each chunk listed once


def test_incremental_lists_only_chunks_and_packs_it_references(
    tmp_path: Path, settled: None
) -> None:
    store = memory_store()
    source = tmp_path / "src"
    sizes = _build_tree(source, files=60)
    back_up(store, source, "b1", pack_size=64 * KIB)
    parent = _parent(store, "b1")
    doomed = sorted(sizes)[:30]
    for path in doomed:
        path.unlink()

    back_up(store, source, "b2", parent=parent, pack_size=64 * KIB)

    child = _parent(store, "b2")
    referenced = {i for entry in child.iter_entries() for i in entry.chunk_indices()}
    assert referenced == set(range(child.chunk_count))
    used_packs = {child.chunk(i).pack for i in referenced}
    assert used_packs == set(range(len(child.packs)))
    assert len(child.packs) < len(parent.packs)
    assert all(key.startswith(packs_prefix(SHARE)) for key in child.packs)


def test_parent_must_belong_to_the_share(tmp_path: Path) -> None:
    store = memory_store()
    source = tmp_path / "src"
    _build_tree(source, files=3)
    back_up(store, source, "b1")
    with pytest.raises(ValueError, match="cannot be the parent"):
        back_up(store, source, "b2", parent=_parent(store, "b1"), share_id="share-2")
    with pytest.raises(ValueError, match="cannot be the parent"):
        back_up(store, source, "b1", parent=_parent(store, "b1"))


def test_many_small_files_go_into_a_handful_of_packs(tmp_path: Path) -> None:
    store = memory_store()
    source = tmp_path / "src"
    rng = random.Random(11)
    for n in range(5000):
        directory = source / f"d{n % 50:02d}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"f{n:05d}.txt").write_bytes(rng.randbytes(rng.randint(50, 400)))

    result = back_up(store, source, "b1", pack_size=512 * KIB)

    assert result.stats.files == 5000
    objects = store.list("")
    assert len(objects) == result.object_count
    assert result.object_count <= 6  # ~1.1 MB in 512 KiB packs, plus the manifest
    assert result.object_count == result.stats.packs_written + 1
    target = tmp_path / "restored"
    restore_tree_backup(store, share_id=SHARE, backup_id="b1", target_dir=target)
    assert_same_tree(source, target)
