"""Tree backups: corruption is detected, never restored; changed-while-read files are flagged."""

from __future__ import annotations

import logging
import os
import random
import struct
from pathlib import Path
from typing import Any

import msgpack  # type: ignore[import-untyped]
import pytest

from storage.errors import CorruptData, ObjectNotFound
from storage.format.tree import (
    TreeStats,
    chunking,
    read_tree_manifest,
    restore_tree_backup,
)
from storage.format.tree import backup as backup_module
from storage.format.tree.entries import FLAG_CHANGED, Entry, Kind
from storage.format.tree.manifest import (
    DIGEST_LEN,
    PRELUDE,
    decode_manifest,
    encode_manifest,
)
from storage.layout import tree_manifest_key
from storage.objects import ObjectStore
from tests.storage.test_tree_support import (
    KIB,
    MIB,
    SHARE,
    back_up,
    memory_store,
)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "sub").mkdir(parents=True)
    rng = random.Random(2)
    (root / "random.bin").write_bytes(rng.randbytes(1 * MIB))
    (root / "sub" / "text.txt").write_bytes(b"some text, compressible\n" * 4000)
    (root / "small").write_bytes(b"x")
    return root


def _flip(store: ObjectStore, key: str, offset: int) -> None:
    data = bytearray(store.get(key))
    data[offset] ^= 0x40
    store.put(key, bytes(data))


def test_a_flipped_pack_byte_fails_the_restore_naming_the_file(
    source: Path, tmp_path: Path
) -> None:
    store = memory_store()
    back_up(store, source, "b1")
    manifest = read_tree_manifest(store, share_id=SHARE, backup_id="b1")
    entry = next(e for e in manifest.iter_entries() if e.path == b"random.bin")
    row = manifest.chunk(entry.runs[0][1][3])
    _flip(store, manifest.packs[row.pack], row.offset + row.stored_len // 2)
    target = tmp_path / "restored"
    target.mkdir()
    (target / "random.bin").write_bytes(b"the old version")

    with pytest.raises(CorruptData, match="random.bin"):
        restore_tree_backup(store, share_id=SHARE, backup_id="b1", target_dir=target)

    # Wrong bytes are never written: the old file is still there, no temporary is left.
    assert (target / "random.bin").read_bytes() == b"the old version"
    assert not list(target.rglob(".safehold-restore-*"))


def test_a_flipped_byte_in_a_compressed_chunk_fails_the_restore(
    source: Path, tmp_path: Path
) -> None:
    store = memory_store()
    back_up(store, source, "b1")
    manifest = read_tree_manifest(store, share_id=SHARE, backup_id="b1")
    entry = next(e for e in manifest.iter_entries() if e.path == b"sub/text.txt")
    row = manifest.chunk(entry.runs[0][1][0])
    assert row.compressed
    _flip(store, manifest.packs[row.pack], row.offset + row.stored_len - 3)
    with pytest.raises(CorruptData, match="text.txt"):
        restore_tree_backup(store, share_id=SHARE, backup_id="b1", target_dir=tmp_path / "r")


def test_a_damaged_pack_header_fails_a_whole_pack_read(source: Path, tmp_path: Path) -> None:
    store = memory_store()
    back_up(store, source, "b1")
    manifest = read_tree_manifest(store, share_id=SHARE, backup_id="b1")
    _flip(store, manifest.packs[0], 0)  # the magic; every chunk is needed: one GET
    with pytest.raises(CorruptData, match="header"):
        restore_tree_backup(store, share_id=SHARE, backup_id="b1", target_dir=tmp_path / "r")


def test_a_missing_pack_fails_the_restore(source: Path, tmp_path: Path) -> None:
    store = memory_store()
    back_up(store, source, "b1")
    manifest = read_tree_manifest(store, share_id=SHARE, backup_id="b1")
    store.delete(manifest.packs[-1])
    with pytest.raises(ObjectNotFound):
        restore_tree_backup(store, share_id=SHARE, backup_id="b1", target_dir=tmp_path / "r")


@pytest.mark.parametrize(
    "where", [0, 9, PRELUDE.size + 3, PRELUDE.size + DIGEST_LEN + 5, -1], ids=str
)
def test_a_flipped_manifest_byte_fails_the_read(source: Path, where: int) -> None:
    store = memory_store()
    back_up(store, source, "b1")
    key = tree_manifest_key(SHARE, "b1")
    _flip(store, key, where if where >= 0 else len(store.get(key)) + where)
    with pytest.raises(CorruptData):
        read_tree_manifest(store, share_id=SHARE, backup_id="b1")
    with pytest.raises(CorruptData):
        restore_tree_backup(store, share_id=SHARE, backup_id="b1", target_dir=source / "x")


def test_a_truncated_manifest_or_another_backups_fails_the_read(source: Path) -> None:
    store = memory_store()
    back_up(store, source, "b1")
    key = tree_manifest_key(SHARE, "b1")
    data = store.get(key)
    store.put(key, data[:-10])
    with pytest.raises(CorruptData):
        read_tree_manifest(store, share_id=SHARE, backup_id="b1")
    store.put(tree_manifest_key(SHARE, "b2"), data)  # a copy under another id
    with pytest.raises(CorruptData, match="names"):
        read_tree_manifest(store, share_id=SHARE, backup_id="b2")
    with pytest.raises(ObjectNotFound):
        read_tree_manifest(store, share_id=SHARE, backup_id="b3")


def _header(**overrides: Any) -> dict[str, Any]:
    header: dict[str, Any] = {
        "version": 1,
        "kind": "directory-tree",
        "share_id": SHARE,
        "backup_id": "b1",
        "parent_id": None,
        "created_at": "2026-01-01T00:00:00Z",
        "started_ns": 0,
        "record": {},
        "stats": dict.fromkeys(TreeStats().counters(), 0),
        "chunking": chunking.ChunkParams.for_average(16 * KIB).as_dict(),
        "packs": [],
        "chunk_count": 0,
        "size_bytes": 0,
    }
    header.update(overrides)
    return header


def _encode(entries: list[Entry], **header: Any) -> bytes:
    stream = b"".join(msgpack.packb(e.to_array(), use_bin_type=True) for e in entries)
    return encode_manifest(_header(entry_count=len(entries), **header), b"", stream)


def _dir(path: bytes) -> Entry:
    return Entry(path, Kind.DIR, 0o755, 0, 0, 0, 0, 1, 0)


def test_a_hand_made_manifest_decodes() -> None:
    manifest = decode_manifest(_encode([_dir(b""), _dir(b"a"), _dir(b"a/b")]))
    assert [e.path for e in manifest.iter_entries()] == [b"", b"a", b"a/b"]


@pytest.mark.parametrize(
    "paths",
    [
        [b"", b"../evil"],  # escapes the target
        [b"", b"a/../../evil"],
        [b"", b"/abs"],
        [b"", b"a//b"],
        [b"", b"a", b"a"],  # duplicate
        [b"", b"b", b"a"],  # out of order
        [b"", b"a/b"],  # no parent entry
        [b"x"],  # no root
    ],
)
def test_manifests_with_unsafe_or_unordered_paths_are_corrupt(paths: list[bytes]) -> None:
    with pytest.raises(CorruptData):
        decode_manifest(_encode([_dir(p) for p in paths]))


def test_a_hard_link_must_name_an_earlier_linked_path() -> None:
    link = Entry(b"l", Kind.HARDLINK, 0o644, 0, 0, 0, 0, 1, 0, target=b"f")
    with pytest.raises(CorruptData, match="hard link"):
        decode_manifest(_encode([_dir(b""), link]))


def test_an_unknown_version_is_corrupt() -> None:
    data = bytearray(_encode([_dir(b"")]))
    struct.pack_into("<H", data, 8, 2)
    with pytest.raises(CorruptData, match="version"):
        decode_manifest(bytes(data))
    with pytest.raises(CorruptData, match="version"):
        decode_manifest(_encode([_dir(b"")], version=2))


# -- changed while read -----------------------------------------------------------------


def _change_during_read(monkeypatch: pytest.MonkeyPatch, victim: Path, change: Any) -> list[int]:
    """Make chunking.read_at call ``change(victim)`` before its first read of ``victim``."""
    real = chunking.read_at
    inode = victim.stat().st_ino
    done: list[int] = []

    def read_at(fd: int, buf: memoryview, offset: int) -> int:
        if not done and os.fstat(fd).st_ino == inode:
            done.append(offset)
            change(victim)
        return real(fd, buf, offset)

    monkeypatch.setattr(chunking, "read_at", read_at)
    return done


def test_a_file_growing_while_read_is_flagged(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = memory_store()
    victim = source / "sub" / "text.txt"
    original = victim.read_bytes()

    def grow(path: Path) -> None:
        with path.open("ab") as f:
            f.write(b"appended while the backup read the file\n")

    done = _change_during_read(monkeypatch, victim, grow)
    with caplog.at_level(logging.WARNING, logger="storage.format.tree"):
        result = back_up(store, source, "b1")

    assert done == [0]
    assert result.stats.changed_while_read == ("sub/text.txt",)
    assert "tree backup b1: sub/text.txt changed while read" in caplog.messages
    manifest = read_tree_manifest(store, share_id=SHARE, backup_id="b1")
    assert manifest.stats.changed_while_read == ("sub/text.txt",)
    flagged = [e.path for e in manifest.iter_entries() if e.flags & FLAG_CHANGED]
    assert flagged == [b"sub/text.txt"]
    # The content read (the size seen before reading) is what is stored and restored.
    target = tmp_path / "restored"
    restore_tree_backup(store, share_id=SHARE, backup_id="b1", target_dir=target)
    assert (target / "sub" / "text.txt").read_bytes() == original


def test_a_file_shrinking_while_read_stores_what_was_read(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = memory_store()
    victim = source / "random.bin"
    head = victim.read_bytes()[:1000]
    _change_during_read(monkeypatch, victim, lambda path: os.truncate(path, 1000))

    result = back_up(store, source, "b1")

    assert result.stats.changed_while_read == ("random.bin",)
    target = tmp_path / "restored"
    restore_tree_backup(store, share_id=SHARE, backup_id="b1", target_dir=target)
    assert (target / "random.bin").read_bytes() == head


def test_a_flagged_file_is_read_again_by_the_next_incremental(
    source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = memory_store()
    victim = source / "small"
    _change_during_read(monkeypatch, victim, lambda path: os.utime(path, ns=(1, 1)))
    back_up(store, source, "b1")
    monkeypatch.undo()  # the real read_at again
    monkeypatch.setattr(backup_module, "RACY_NS", 0)  # trust the other files' settled ctimes
    parent = read_tree_manifest(store, share_id=SHARE, backup_id="b1")

    result = back_up(store, source, "b2", parent=parent)

    # Everything else is reused; the flagged file is read although it is unchanged since.
    assert result.stats.bytes_read == victim.stat().st_size
    assert result.stats.changed_while_read == ()
