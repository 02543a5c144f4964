"""Tree backups: every entry kind round-trips; restore makes a dirty target equal; stop."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from storage.errors import InvalidKey, Stopped
from storage.format.tree import (
    Kind,
    list_tree_manifests,
    read_tree_manifest,
    restore_tree_backup,
    tree_manifest_exists,
)
from storage.layout import share_prefix, tree_manifest_key
from storage.objects import ObjectStore
from tests.storage.test_tree_support import (
    GIB,
    MIB,
    ROOT_XATTR,
    SHARE,
    XATTR,
    assert_same_tree,
    back_up,
    build_every_kind,
    file_store,
    memory_store,
    snapshot,
    xattrs_supported,
)


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    return memory_store() if request.param == "memory" else file_store(tmp_path)


@pytest.fixture(scope="module")
def every_kind(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("every") / "src"
    root.mkdir()
    build_every_kind(root)
    return root


def test_every_entry_kind_round_trips_into_an_empty_dir(
    store: ObjectStore, every_kind: Path, tmp_path: Path
) -> None:
    result = back_up(store, every_kind, "b1")
    target = tmp_path / "restored"

    written = restore_tree_backup(store, share_id=SHARE, backup_id="b1", target_dir=target)

    assert_same_tree(every_kind, target)
    stats = result.stats
    has_dev = os.path.lexists(every_kind / "null-dev")
    assert (stats.files, stats.symlinks, stats.hardlinks) == (8, 5, 1)
    assert stats.directories == 8  # the root, docs, docs/deep, docs/deep/er, café, a, a/x, sticky
    assert stats.specials == 1 + has_dev
    assert stats.bytes_total == result.size_bytes
    assert stats.bytes_total == sum(
        st.st_size
        for p in every_kind.rglob("*")
        if (st := p.lstat()) and p.is_file() and not p.is_symlink() and p.name != "linked-b"
    )
    assert written == stats.bytes_read  # a full backup reads exactly what restore writes
    # The 1 GiB sparse file is stored as KiB (its few data blocks), and restored sparse.
    assert result.stored_bytes < 4 * MIB
    assert stats.bytes_read < 4 * MIB
    sparse = (target / "sparse.img").stat()
    assert sparse.st_size == GIB and sparse.st_blocks * 512 < MIB
    # Hard links are restored as links (one inode), not copies.
    assert (target / "linked-a").stat().st_ino == (target / "docs" / "linked-b").stat().st_ino
    assert os.readlink(target / "docs" / "outside") == "/etc"
    assert (target / "sticky").stat().st_mode & 0o7777 == 0o1777
    assert os.fsencode(target / "caf\udce9" / "\udcff\udcfe") in [
        os.fsencode(p) for p in (target / "caf\udce9").iterdir()
    ]


def test_xattrs_round_trip(store: ObjectStore, every_kind: Path, tmp_path: Path) -> None:
    if not xattrs_supported(every_kind.parent):
        pytest.skip("the tmp file system refuses user xattrs")
    back_up(store, every_kind, "b1")
    target = tmp_path / "restored"
    restore_tree_backup(store, share_id=SHARE, backup_id="b1", target_dir=target)
    assert os.getxattr(target / "docs" / "readme.txt", XATTR[0]) == XATTR[1]
    assert os.getxattr(target / "docs", XATTR[0]) == XATTR[1]
    assert os.getxattr(target, ROOT_XATTR[0]) == ROOT_XATTR[1]


def test_manifest_records_entries_in_path_byte_order(store: ObjectStore, every_kind: Path) -> None:
    back_up(store, every_kind, "b1")
    manifest = read_tree_manifest(store, share_id=SHARE, backup_id="b1")
    paths = [entry.path for entry in manifest.iter_entries()]
    assert paths[0] == b"" and paths == sorted(paths) and len(set(paths)) == len(paths)
    assert paths.index(b"a") < paths.index(b"a-b") < paths.index(b"a/x")
    entries = {entry.path: entry for entry in manifest.iter_entries()}
    # The first path of an inode in path order holds the data; later ones link to it.
    assert entries[b"linked-a"].kind == Kind.HARDLINK
    assert entries[b"linked-a"].target == b"docs/linked-b"
    assert entries[b"docs/linked-b"].kind == Kind.FILE and entries[b"pipe"].kind == Kind.FIFO
    assert manifest.record == {"id": "b1", "share_id": SHARE, "nested": {"ok": [1, 2]}}
    assert manifest.created_at.endswith("Z") and manifest.parent_id is None
    assert manifest.packs and all(store.exists(key) for key in manifest.packs)
    assert list_tree_manifests(store) == [(SHARE, "b1")]
    assert tree_manifest_exists(store, share_id=SHARE, backup_id="b1")


def _dirty_target(target: Path, outside: Path) -> None:
    """A restore target full of junk, wrong types, stale content and a planted symlink."""
    (target / "junk-dir" / "deeper").mkdir(parents=True)
    (target / "junk-dir" / "deeper" / "f").write_bytes(b"junk")
    (target / "junk-file").write_bytes(b"junk")
    os.symlink("/etc/passwd", target / "junk-link")
    (target / "bin.dat").mkdir()  # a dir where the backup has a file
    (target / "bin.dat" / "inside").write_bytes(b"x")
    (target / "sticky").write_bytes(b"a file where the backup has a dir")
    # Same size and mtime as the backed-up file, other bytes: must still be rewritten.
    (target / "linked-a").write_bytes(b"ONE INODE, TWO NAMES\n")
    os.utime(target / "linked-a", ns=(1, 1))
    # A symlink where the backup has a directory: removed, never followed.
    os.symlink(outside, target / "docs")
    os.chmod(target, 0o700)


def test_restore_makes_a_dirty_target_equal(
    store: ObjectStore, every_kind: Path, tmp_path: Path
) -> None:
    back_up(store, every_kind, "b1")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "readme.txt").write_bytes(b"must survive")
    target = tmp_path / "restored"
    target.mkdir()
    _dirty_target(target, outside)

    restore_tree_backup(store, share_id=SHARE, backup_id="b1", target_dir=target)

    assert_same_tree(every_kind, target)
    assert sorted(os.listdir(outside)) == ["readme.txt"]
    assert (outside / "readme.txt").read_bytes() == b"must survive"
    assert not any(name.startswith(".safehold") for name in os.listdir(target))


def test_restore_over_a_modified_restore(
    store: ObjectStore, every_kind: Path, tmp_path: Path
) -> None:
    back_up(store, every_kind, "b1")
    target = tmp_path / "restored"
    restore_tree_backup(store, share_id=SHARE, backup_id="b1", target_dir=target)
    # Everything a user might do to a restored share before restoring it again.
    shutil.rmtree(target / "docs" / "deep")
    (target / "docs" / "readme.txt").write_bytes(b"edited")
    os.unlink(target / "docs" / "linked-b")
    (target / "docs" / "linked-b").write_bytes(b"one inode, two names\n")  # a copy, not a link
    os.unlink(target / "to-readme")
    os.symlink("elsewhere", target / "to-readme")
    os.chmod(target / "bin.dat", 0o600)
    os.mkdir(target / "pipe-dir")
    os.rename(target / "pipe", target / "pipe-dir" / "pipe")

    restore_tree_backup(store, share_id=SHARE, backup_id="b1", target_dir=target)

    assert_same_tree(every_kind, target)


def test_progress_reaches_the_total(every_kind: Path, tmp_path: Path) -> None:
    store = memory_store()
    calls: list[tuple[int, int]] = []
    result = back_up(store, every_kind, "b1", progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (result.stats.bytes_total, result.stats.bytes_total)
    calls.clear()
    restore_tree_backup(
        store,
        share_id=SHARE,
        backup_id="b1",
        target_dir=tmp_path / "r",
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls[-1] == (result.stats.bytes_total, result.stats.bytes_total)
    assert all(done <= total for done, total in calls)


class _StopAfter(threading.Event):
    """A stop event that reads as set after ``n`` checks: a run lost part-way through."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self._left = n

    def is_set(self) -> bool:
        self._left -= 1
        return self._left < 0 or super().is_set()


@pytest.mark.parametrize("after", [0, 5, 40])
def test_stop_ends_a_backup_uncommitted(every_kind: Path, after: int) -> None:
    store = memory_store()
    with pytest.raises(Stopped):
        back_up(store, every_kind, "b1", stop=_StopAfter(after))
    assert not store.exists(tree_manifest_key(SHARE, "b1"))


@pytest.mark.parametrize("after", [0, 5, 40])
def test_stop_ends_a_restore(every_kind: Path, tmp_path: Path, after: int) -> None:
    store = memory_store()
    back_up(store, every_kind, "b1")
    with pytest.raises(Stopped):
        restore_tree_backup(
            store,
            share_id=SHARE,
            backup_id="b1",
            target_dir=tmp_path / "r",
            stop=_StopAfter(after),
        )
    leftovers = [p.name for p in (tmp_path / "r").rglob(".safehold-restore-*")]
    assert leftovers == []


def test_before_commit_can_refuse_the_commit(every_kind: Path) -> None:
    store = memory_store()

    def refuse() -> None:
        raise RuntimeError("lost ownership")

    with pytest.raises(RuntimeError, match="lost ownership"):
        back_up(store, every_kind, "b1", before_commit=refuse)
    assert not tree_manifest_exists(store, share_id=SHARE, backup_id="b1")
    assert store.list(share_prefix(SHARE))  # its packs are there: garbage for delete


def test_restored_tree_backs_up_to_the_same_content(every_kind: Path, tmp_path: Path) -> None:
    store = memory_store()
    first = back_up(store, every_kind, "b1")
    target = tmp_path / "restored"
    restore_tree_backup(store, share_id=SHARE, backup_id="b1", target_dir=target)
    again = back_up(
        store, target, "b2", parent=read_tree_manifest(store, share_id=SHARE, backup_id="b1")
    )
    # ctimes differ after a restore, so files are read again, but no chunk is new.
    assert again.stats.chunks_new == 0 and again.stats.packs_written == 0
    assert again.stats.bytes_total == first.stats.bytes_total
    assert snapshot(target)[b"."]["mode"] == 0o751


def test_devices_that_may_not_be_created_are_skipped(
    every_kind: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if not os.path.lexists(every_kind / "null-dev"):
        pytest.skip("this test may not create device nodes")
    store = memory_store()
    back_up(store, every_kind, "b1")
    target = tmp_path / "restored"
    target.mkdir()
    (target / "null-dev").write_bytes(b"a stale file where the device belongs")

    def refuse(*_args: object, **_kw: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "mknod", refuse)
    with caplog.at_level("WARNING", logger="storage.format.tree"):
        restore_tree_backup(store, share_id=SHARE, backup_id="b1", target_dir=target)

    assert not os.path.lexists(target / "null-dev")
    assert any("not permitted to create device null-dev" in m for m in caplog.messages)
    want = snapshot(every_kind)
    del want[b"null-dev"]
    got = snapshot(target)
    assert {p: e for p, e in got.items() if p != b"."} == {
        p: e for p, e in want.items() if p != b"."
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"avg_chunk": 3000},
        {"avg_chunk": 512},
        {"avg_chunk": 8 << 20},
        {"pack_size": 1000},
        {"zstd_level": 0},
        {"workers": 0},
        {"share_id": "Bad"},
    ],
)
def test_bad_parameters_are_refused(every_kind: Path, bad: dict[str, Any]) -> None:
    store = memory_store()
    with pytest.raises((ValueError, InvalidKey)):
        back_up(store, every_kind, "b1", **bad)
    assert store.list("") == []


def test_stats_are_json_able(every_kind: Path) -> None:
    result = back_up(memory_store(), every_kind, "b1")
    as_dict = result.stats.as_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["changed_while_read"] == [] and as_dict["files"] == result.stats.files
