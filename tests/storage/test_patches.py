"""Page patches: a changed block stored as its changed pages over a whole-block base."""

from __future__ import annotations

import hashlib
import json
import os
import random
import struct
import uuid
from pathlib import Path

import pytest
import zstandard

from storage.errors import CorruptData
from storage.format import BackupResult, Manifest, read_manifest, restore_backup, write_backup
from storage.format.digest import BLAKE3, SHA256, digest
from storage.format.manifest import PRELUDE, TRAILER_LEN
from storage.format.patch import PAGE, apply_patch, diff_pages, make_patch
from storage.layout import manifest_key
from storage.objects import ObjectStore, open_store
from storage.sources.block import create_volume_file

BS = 64 * 1024  # 16 pages per block
SEG = 256 * 1024
BLOCKS = 12


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "memory":
        return open_store(f"memory://patch-{uuid.uuid4().hex}")
    return open_store(f"file://{tmp_path / 'store'}")


def _volume(path: Path, seed: int = 7) -> Path:
    rng = random.Random(seed)
    size = BLOCKS * BS + 5000  # a short last block of 2 pages, the second short
    create_volume_file(path, size)
    with open(path, "r+b") as f:
        os.pwrite(f.fileno(), rng.randbytes(size), 0)
    return path


def _poke(path: Path, offsets: list[int], seed: int) -> None:
    rng = random.Random(seed)
    with open(path, "r+b") as f:
        for offset in offsets:
            os.pwrite(f.fileno(), rng.randbytes(100), offset)


def _backup(
    store: ObjectStore, source: Path, parent: Manifest | None = None, algorithm: str | None = None
) -> BackupResult:
    return write_backup(
        store,
        backup_id=str(uuid.uuid4()),
        source_path=source,
        record={"id": "r"},
        block_size=BS,
        segment_size=SEG,
        parent=parent,
        algorithm=algorithm,
    )


def _restored(store: ObjectStore, manifest: Manifest, target: Path) -> bytes:
    create_volume_file(target, manifest.volume_size)
    restore_backup(store, backup_id=manifest.backup_id, target_path=target)
    data = target.read_bytes()
    target.unlink()
    return data


@pytest.mark.parametrize("size", [1, PAGE - 1, PAGE, PAGE + 1, 3 * PAGE + 17, 16 * PAGE])
def test_a_patch_carries_exactly_the_changed_pages(size: int) -> None:
    rng = random.Random(size)
    base = rng.randbytes(size)
    data = bytearray(base)
    data[-1] ^= 0xFF
    pages = diff_pages(base, bytes(data))
    assert pages == [(size - 1) // PAGE]
    patch = make_patch(bytes(data), pages)
    last_page = size - (size - 1) // PAGE * PAGE
    assert len(patch) == (-(-size // PAGE) + 7) // 8 + last_page  # page map + one page
    assert apply_patch(base, patch) == data
    assert apply_patch(base, make_patch(base, [])) == base


def test_a_malformed_patch_is_refused() -> None:
    base = bytes(4 * PAGE)
    data = b"\x01" * PAGE + bytes(3 * PAGE)
    patch = make_patch(data, [0])
    with pytest.raises(ValueError):
        apply_patch(base, patch[:-1])  # a page cut short
    with pytest.raises(ValueError):
        apply_patch(base, patch + b"x")  # bytes the map does not list
    with pytest.raises(ValueError):
        apply_patch(base, bytes([0b10000]) + patch[1:])  # a map bit past the last page
    with pytest.raises(ValueError):
        diff_pages(base, data[:-1])


def test_an_incremental_stores_changed_pages_not_blocks(store: ObjectStore, tmp_path: Path) -> None:
    source = _volume(tmp_path / "v.img")
    full = _backup(store, source)
    _poke(source, [3 * BS + 10, 7 * BS + 5 * PAGE], seed=1)
    child = _backup(store, source, full.manifest)
    assert child.manifest.stats["patched_blocks"] == 2
    assert child.manifest.stats["data_bytes"] == 2 * (2 + PAGE)  # page map + one page each
    assert child.manifest.stored_bytes() < 2 * PAGE + 200
    patched = [e for e in child.manifest.iter_blocks() if e.is_patch]
    assert [e.index for e in patched] == [3, 7]
    bases = [child.manifest.segments[e.base[0]].owner for e in patched if e.base is not None]
    assert bases == [full.manifest.backup_id] * 2
    assert _restored(store, child.manifest, tmp_path / "r.img") == source.read_bytes()


def test_patches_never_stack_and_every_point_of_a_chain_restores(
    store: ObjectStore, tmp_path: Path
) -> None:
    source = _volume(tmp_path / "v.img")
    chain = [_backup(store, source).manifest]
    images = [source.read_bytes()]
    for n in range(8):  # block 2 changes every time (a hot block), a page further on each
        _poke(source, [2 * BS + n * PAGE, (4 + n % 3) * BS], seed=100 + n)
        chain.append(_backup(store, source, chain[-1]).manifest)
        images.append(source.read_bytes())
    for manifest in chain[1:]:
        for entry in manifest.iter_blocks():
            if entry.base is not None:  # a patch's base is a whole frame, never a patch
                base_owner = manifest.segments[entry.base[0]].owner
                owner = next(m for m in chain if m.backup_id == base_owner)
                assert not owner.block(entry.index).is_patch
    # Block 2 gathers a changed page per backup: patched over the full's frame while at
    # most a quarter of its pages (4 of 16) differ from it, then stored whole, a new base.
    hot = [m.block(2) for m in chain[1:]]
    assert [e.is_patch for e in hot] == [True, True, True, True, False, True, True, True]
    for manifest, image in zip(chain, images, strict=True):
        assert _restored(store, manifest, tmp_path / "r.img") == image


@pytest.mark.parametrize("pages", [9, 5])
def test_a_block_mostly_changed_is_stored_whole(
    store: ObjectStore, tmp_path: Path, pages: int
) -> None:
    # More than a quarter of the pages (4 of 16) changed.
    source = _volume(tmp_path / "v.img")
    full = _backup(store, source)
    _poke(source, [5 * BS + p * PAGE for p in range(pages)], seed=3)
    child = _backup(store, source, full.manifest)
    assert child.manifest.stats["patched_blocks"] == 0 and child.new_blocks == 1
    assert not child.manifest.block(5).is_patch
    assert _restored(store, child.manifest, tmp_path / "r.img") == source.read_bytes()


def test_a_damaged_base_is_not_patched_over(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path / 'store'}")
    source = _volume(tmp_path / "v.img")
    full = _backup(store, source).manifest
    entry = full.block(4)
    _flip(store, full.segments[entry.segment].key, entry.offset + entry.length // 2)
    _poke(source, [4 * BS], seed=4)
    child = _backup(store, source, full).manifest
    assert not child.block(4).is_patch  # stored whole: it must not depend on the bad frame
    assert child.segments[child.block(4).segment].owner == child.backup_id


def test_a_damaged_base_fails_the_restore_of_its_patch(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path / 'store'}")
    source = _volume(tmp_path / "v.img")
    full = _backup(store, source).manifest
    _poke(source, [6 * BS + 3], seed=5)
    child = _backup(store, source, full).manifest
    entry = child.block(6)
    assert entry.base is not None
    _flip(store, child.segments[entry.base[0]].key, entry.base[1] + entry.base[2] // 2)
    target = tmp_path / "r.img"
    create_volume_file(target, child.volume_size)
    before = target.read_bytes()
    with pytest.raises(CorruptData):
        restore_backup(store, backup_id=child.backup_id, target_path=target)
    assert target.read_bytes() == before  # the target is untouched


def test_a_version_1_manifest_still_reads(store: ObjectStore, tmp_path: Path) -> None:
    source = _volume(tmp_path / "v.img")
    manifest = _backup(store, source, algorithm=SHA256).manifest
    key = manifest_key(manifest.backup_id)
    store.put(key, _as_older(store.get(key), version=1))
    again = read_manifest(store, manifest.backup_id)
    assert again.blocks == manifest.blocks and again.patch_count == 0
    assert again.algorithm == SHA256
    assert _restored(store, again, tmp_path / "r.img") == source.read_bytes()


def test_a_version_2_chain_goes_on_in_sha256_and_every_point_restores(
    store: ObjectStore, tmp_path: Path
) -> None:
    """A chain written before format 3 (SHA-256 digests, no algorithm in the header)
    goes on with SHA-256: its incrementals compare blocks with it and patch over it."""
    source = _volume(tmp_path / "v.img")
    full = _backup(store, source, algorithm=SHA256).manifest
    key = manifest_key(full.backup_id)
    store.put(key, _as_older(store.get(key), version=2))
    old = read_manifest(store, full.backup_id)
    assert old.algorithm == SHA256
    _poke(source, [2 * BS + 5], seed=7)
    child = _backup(store, source, old)
    assert child.manifest.algorithm == SHA256 and child.new_blocks == 1
    assert child.manifest.block(2).is_patch
    assert _restored(store, read_manifest(store, child.manifest.backup_id), tmp_path / "r.img") == (
        source.read_bytes()
    )
    with pytest.raises(ValueError, match="keeps its parent's digest"):
        _backup(store, source, old, algorithm=BLAKE3)


def test_a_new_chain_is_blake3_and_says_so(store: ObjectStore, tmp_path: Path) -> None:
    source = _volume(tmp_path / "v.img")
    manifest = _backup(store, source).manifest
    header, _ = _split(store.get(manifest_key(manifest.backup_id)))
    assert header["digest"] == BLAKE3 == manifest.algorithm
    data = source.read_bytes()
    for entry in manifest.iter_blocks():
        if not entry.is_hole:
            block = data[entry.index * BS : entry.index * BS + manifest.block_length(entry.index)]
            assert entry.digest == digest(BLAKE3, block)


def test_an_unknown_digest_algorithm_is_corrupt(store: ObjectStore, tmp_path: Path) -> None:
    manifest = _backup(store, _volume(tmp_path / "v.img")).manifest
    key = manifest_key(manifest.backup_id)
    header, tables = _split(store.get(key))
    header["digest"] = "md5"
    store.put(key, _join(header, tables))
    with pytest.raises(CorruptData, match="digest"):
        read_manifest(store, manifest.backup_id)


def test_a_base_table_that_disagrees_with_the_patches_is_corrupt(
    store: ObjectStore, tmp_path: Path
) -> None:
    source = _volume(tmp_path / "v.img")
    full = _backup(store, source)
    _poke(source, [BS], seed=6)
    child = _backup(store, source, full.manifest).manifest
    key = manifest_key(child.backup_id)
    header, body = _split(store.get(key))
    header["patch_count"] = 0
    store.put(key, _join(header, body[: len(body) - 44]))
    with pytest.raises(CorruptData):
        read_manifest(store, child.backup_id)


# --- manifest surgery -----------------------------------------------------------------------


def _flip(store: ObjectStore, key: str, position: int) -> None:
    data = bytearray(store.get(key))
    data[position] ^= 0xFF
    store.put(key, bytes(data))


def _split(data: bytes) -> tuple[dict[str, object], bytes]:
    """A manifest's JSON header and the tables after it."""
    body = zstandard.ZstdDecompressor().decompress(data[PRELUDE.size : -TRAILER_LEN])
    (length,) = struct.unpack_from("<I", body)
    return json.loads(body[4 : 4 + length]), body[4 + length :]


def _join(header: dict[str, object], tables: bytes, version: int = 3) -> bytes:
    raw = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    body = struct.pack("<I", len(raw)) + raw + tables
    prelude = PRELUDE.pack(b"SAFEHOLD", version, 1, 0)
    payload = prelude + zstandard.ZstdCompressor().compress(body)
    return payload + hashlib.sha256(payload).digest()


def _as_older(data: bytes, *, version: int) -> bytes:
    """A SHA-256 manifest rewritten as format ``version`` wrote it (1: no patches)."""
    header, tables = _split(data)
    assert header.pop("digest") == SHA256
    if version == 1:
        assert header.pop("patch_count") == 0
    return _join(header, tables, version=version)
