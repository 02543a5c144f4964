"""Block volumes: sparse files, extents, hole detection, and the restore target."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from storage.errors import ObjectNotFound, PermanentStorageError
from storage.sources import block

KIB = 1024
MIB = 1024 * KIB


def _allocated(path: Path) -> int:
    return os.stat(path).st_blocks * 512


def test_create_volume_file_is_sparse_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "vol.img"
    block.create_volume_file(path, 64 * MIB)
    assert path.stat().st_size == 64 * MIB
    assert _allocated(path) == 0
    path.write_bytes(b"")  # as if a crash struck between create and truncate
    block.create_volume_file(path, 64 * MIB)
    assert path.stat().st_size == 64 * MIB
    block.create_volume_file(path, 64 * MIB)


def test_create_volume_file_with_another_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "vol.img"
    block.create_volume_file(path, MIB)
    with pytest.raises(PermanentStorageError):
        block.create_volume_file(path, 2 * MIB)


def test_delete_volume_file_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "vol.img"
    block.create_volume_file(path, MIB)
    block.delete_volume_file(path)
    block.delete_volume_file(path)
    assert not path.exists()


def test_device_size(tmp_path: Path) -> None:
    path = tmp_path / "vol.img"
    block.create_volume_file(path, 3 * MIB + 5)
    assert block.device_size(path) == 3 * MIB + 5
    with pytest.raises(ObjectNotFound):
        block.device_size(tmp_path / "missing.img")


def _volume_with_data(tmp_path: Path) -> Path:
    """8 MiB: data at [1 MiB, 1 MiB + 4 KiB) and [5 MiB, 7 MiB), holes elsewhere."""
    path = tmp_path / "vol.img"
    block.create_volume_file(path, 8 * MIB)
    with open(path, "r+b") as f:
        os.pwrite(f.fileno(), b"x" * 4 * KIB, MIB)
        os.pwrite(f.fileno(), os.urandom(2 * MIB), 5 * MIB)
    return path


def test_iter_data_extents_skips_holes(tmp_path: Path) -> None:
    extents = list(block.iter_data_extents(_volume_with_data(tmp_path)))
    assert extents == [(MIB, 4 * KIB), (5 * MIB, 2 * MIB)]


def test_iter_data_extents_of_an_empty_sparse_file(tmp_path: Path) -> None:
    path = tmp_path / "vol.img"
    block.create_volume_file(path, 4 * MIB)
    assert list(block.iter_data_extents(path)) == []


def test_iter_blocks_reads_only_data_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _volume_with_data(tmp_path)
    reads: list[int] = []
    real_pread = os.pread

    def counting_pread(fd: int, length: int, offset: int) -> bytes:
        reads.append(offset)
        return real_pread(fd, length, offset)

    monkeypatch.setattr(os, "pread", counting_pread)
    blocks = list(block.iter_blocks(path, MIB))
    assert [offset for offset, _ in blocks] == [i * MIB for i in range(8)]
    assert [i for i, (_, data) in enumerate(blocks) if data is not None] == [1, 5, 6]
    assert reads == [MIB, 5 * MIB, 6 * MIB]  # holes were never read


def test_written_zero_blocks_are_holes(tmp_path: Path) -> None:
    path = tmp_path / "zeros.img"
    path.write_bytes(bytes(3 * MIB) + b"\x01" + bytes(100))
    blocks = list(block.iter_blocks(path, MIB))
    assert [data is None for _, data in blocks] == [True, True, True, False]
    last = blocks[-1][1]
    assert last is not None and len(last) == 101  # the short last block


def test_is_zero() -> None:
    assert block.is_zero(bytes(MIB))
    assert not block.is_zero(bytes(MIB - 1) + b"\x01")
    assert block.is_zero(b"")


def test_block_target_empties_a_regular_file_and_keeps_holes(tmp_path: Path) -> None:
    path = tmp_path / "target.img"
    path.write_bytes(os.urandom(4 * MIB))
    path.chmod(0o640)
    with block.BlockTarget(path) as target:
        assert target.regular and target.size == 4 * MIB
        target.write(2 * MIB, b"y" * MIB)
        target.hole(0, 2 * MIB)
    data = path.read_bytes()
    assert data == bytes(2 * MIB) + b"y" * MIB + bytes(MIB)
    assert _allocated(path) <= MIB + 64 * KIB
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["target.img"]  # no staging file left


def test_a_failed_restore_leaves_a_regular_target_untouched(tmp_path: Path) -> None:
    path = tmp_path / "target.img"
    old = os.urandom(2 * MIB)
    path.write_bytes(old)
    with pytest.raises(RuntimeError), block.BlockTarget(path) as target:
        target.write(0, b"n" * MIB)
        raise RuntimeError("a segment went missing")
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["target.img"]


def test_block_target_requires_an_existing_target(tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFound):
        block.BlockTarget(tmp_path / "missing.img")


def test_zero_range_zeroes_and_deallocates(tmp_path: Path) -> None:
    path = tmp_path / "z.img"
    path.write_bytes(b"\xff" * 4 * MIB)
    fd = os.open(path, os.O_RDWR)
    try:
        block.zero_range(fd, MIB, 2 * MIB)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"\xff" * MIB + bytes(2 * MIB) + b"\xff" * MIB
    assert path.stat().st_size == 4 * MIB


def test_deleting_a_volume_file_removes_an_interrupted_restores_staging_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "vol.img"
    path.write_bytes(b"v")
    block.staging_path(path).write_bytes(b"half a restore")
    block.delete_volume_file(path)
    assert list(tmp_path.iterdir()) == []
    block.delete_volume_file(path)  # idempotent
