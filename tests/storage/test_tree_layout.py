"""Tree-backup keys (layout) and pack reads: key shapes, parsing, ranged reads."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from storage import layout
from storage.errors import CorruptData, InvalidKey
from storage.format.tree import read_tree_manifest, restore_tree_backup
from storage.format.tree import restore as restore_module
from storage.format.tree.packs import MAX_GAP, PACK_PRELUDE, fetch_pieces
from storage.objects import ObjectStore
from tests.storage.test_tree_support import KIB, MIB, SHARE, back_up, memory_store

SHARE_ID = "5d1c3f0e-7d1a-4c8e-9f00-1234567890ab"
BACKUP_ID = "0b5c3f0e-7d1a-4c8e-9f00-1234567890ab"


def test_tree_keys() -> None:
    assert layout.share_prefix(SHARE_ID) == f"shares/{SHARE_ID}/"
    assert layout.tree_manifests_prefix(SHARE_ID) == f"shares/{SHARE_ID}/manifests/"
    assert (
        layout.tree_manifest_key(SHARE_ID, BACKUP_ID) == f"shares/{SHARE_ID}/manifests/{BACKUP_ID}"
    )
    assert layout.packs_prefix(SHARE_ID) == f"shares/{SHARE_ID}/packs/"
    key = layout.pack_key(SHARE_ID, BACKUP_ID, 7)
    assert key == f"shares/{SHARE_ID}/packs/{BACKUP_ID}-000007"
    for built in (key, layout.tree_manifest_key(SHARE_ID, BACKUP_ID)):
        assert layout.validate_key(built) == built
    assert layout.shares_listing_prefix() == "shares/"


def test_tree_keys_parse_back() -> None:
    manifest = layout.tree_manifest_key(SHARE_ID, BACKUP_ID)
    assert layout.is_tree_manifest_key(manifest)
    assert layout.parse_tree_manifest_key(manifest) == (SHARE_ID, BACKUP_ID)
    pack = layout.pack_key(SHARE_ID, BACKUP_ID, 999_999)
    assert not layout.is_tree_manifest_key(pack)
    assert layout.parse_pack_key(pack) == (SHARE_ID, BACKUP_ID, 999_999)
    assert layout.parse_pack_name(f"{BACKUP_ID}-000012") == (BACKUP_ID, 12)


@pytest.mark.parametrize(
    "key",
    [
        "shares/s/manifests",
        "shares/s/manifests/",
        "shares/s/packs/b-000001",
        "shares/S/manifests/b",
        "backups/b/manifest",
        "shares/s/manifests/b/x",
        "x/s/manifests/b",
    ],
)
def test_other_keys_are_no_tree_manifests(key: str) -> None:
    assert not layout.is_tree_manifest_key(key)
    with pytest.raises(InvalidKey):
        layout.parse_tree_manifest_key(key)


def test_pack_keys_sort_in_seq_order_and_stay_distinct_across_ids() -> None:
    keys = [layout.pack_key("s", "b", seq) for seq in (0, 9, 10, 99, 100, 123456)]
    assert sorted(keys) == keys
    # An id that extends another with "-<digits>" still parses to its own packs.
    assert layout.parse_pack_key(layout.pack_key("s", "b-000001", 2))[1:] == ("b-000001", 2)
    assert layout.parse_pack_key(layout.pack_key("s", "b", 1))[1:] == ("b", 1)


@pytest.mark.parametrize("seq", [-1, 1_000_000])
def test_pack_seq_out_of_range_raises(seq: int) -> None:
    with pytest.raises(InvalidKey):
        layout.pack_key("s", "b", seq)


@pytest.mark.parametrize("bad", ["", "UPPER", "a/b", "..", "-lead", "a_b", "x" * 65])
def test_invalid_share_ids_raise(bad: str) -> None:
    with pytest.raises(InvalidKey):
        layout.validate_share_id(bad)
    with pytest.raises(InvalidKey):
        layout.share_prefix(bad)


@pytest.mark.parametrize("name", ["b-1", "b-0000001", "b", "-000001", "B-000001"])
def test_invalid_pack_names_raise(name: str) -> None:
    with pytest.raises(InvalidKey):
        layout.parse_pack_name(name)


class _CountingStore:
    """Counts whole and ranged reads of a wrapped store."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.gets = 0
        self.gets_bytes = 0
        self.ranges: list[tuple[int, int]] = []

    def get(self, key: str) -> bytes:
        self.gets += 1
        data = self.inner.get(key)
        if "/packs/" in key:
            self.gets_bytes += len(data)
        return data

    def get_range(self, key: str, start: int, length: int) -> bytes:
        self.ranges.append((start, length))
        return self.inner.get_range(key, start, length)


def _pack(store: ObjectStore, size: int) -> tuple[str, bytes]:
    key = layout.pack_key("s", "b", 0)
    data = PACK_PRELUDE + bytes(range(256)) * ((size - len(PACK_PRELUDE)) // 256)
    store.put(key, data)
    return key, data


def test_pack_reads_fetch_needed_ranges_once() -> None:
    inner = memory_store()
    key, data = _pack(inner, 16 + 4 * MAX_GAP)
    store = _CountingStore(inner)
    # Two pieces close together (one range), one far away (a second range), one repeated.
    pieces = [(100, 10), (200, 50), (100, 10), (3 * MAX_GAP, 30)]

    found = fetch_pieces(store, key, len(data), pieces)  # type: ignore[arg-type]

    assert store.gets == 0
    assert store.ranges == [(100, 150), (3 * MAX_GAP, 30)]
    for offset, length in pieces:
        assert bytes(found.piece(offset, length)) == data[offset : offset + length]
    with pytest.raises(KeyError):
        found.piece(400, 10)  # never asked for


def test_pack_reads_fetch_a_mostly_needed_pack_whole() -> None:
    inner = memory_store()
    key, data = _pack(inner, 16 + 1024)
    store = _CountingStore(inner)
    found = fetch_pieces(store, key, len(data), [(16, 600)])  # type: ignore[arg-type]
    assert (store.gets, store.ranges) == (1, [])
    assert bytes(found.piece(16, 600)) == data[16:616]
    assert bytes(found.piece(900, 50)) == data[900:950]  # the whole pack is there
    with pytest.raises(CorruptData, match="expected"):
        fetch_pieces(store, key, len(data) + 1, [(16, 600)])  # type: ignore[arg-type]
    with pytest.raises(CorruptData, match="shorter"):
        fetch_pieces(store, key, len(data) * 4, [(len(data) - 10, 20)])  # type: ignore[arg-type]


@pytest.mark.parametrize("pack_mib", [1, 3])
def test_a_restore_fetches_every_stored_byte_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pack_mib: int
) -> None:
    """Batches cut packs in two: the rest is not fetched again (whole or ranged)."""
    monkeypatch.setattr(restore_module, "BATCH_BYTES", 700 * KIB)
    source = tmp_path / "src"
    source.mkdir()
    rng = random.Random(3)
    for n in range(40):
        (source / f"f{n:02d}").write_bytes(rng.randbytes(100 * KIB))
    inner = memory_store()
    back_up(inner, source, "b1", pack_size=pack_mib * MIB)
    manifest = read_tree_manifest(inner, share_id=SHARE, backup_id="b1")
    store = _CountingStore(inner)

    restore_tree_backup(
        store,  # type: ignore[arg-type]
        share_id=SHARE,
        backup_id="b1",
        target_dir=tmp_path / "r",
    )

    fetched = store.gets_bytes + sum(length for _, length in store.ranges)
    assert fetched <= sum(manifest.pack_sizes)
    assert store.gets_bytes if pack_mib == 1 else store.ranges  # both ways are exercised
