"""Point-in-time copies: same bytes, holes kept, atomic and repeatable, on every path."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from storage.errors import ObjectNotFound
from storage.sources import snapshot
from storage.sources.block import create_volume_file, iter_data_extents

MIB = 1024 * 1024
SIZE = 64 * MIB


def _allocated(path: Path) -> int:
    return os.stat(path).st_blocks * 512


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    """A 64 MiB sparse volume with data at 0, 20 MiB (incl. a zero run) and the last byte."""
    path = tmp_path / "vol.img"
    create_volume_file(path, SIZE)
    with open(path, "r+b") as f:
        os.pwrite(f.fileno(), os.urandom(MIB), 0)
        os.pwrite(f.fileno(), os.urandom(3 * MIB) + bytes(2 * MIB) + b"tail", 20 * MIB)
        os.pwrite(f.fileno(), b"\x01", SIZE - 1)
    return path


def _no_clone(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_fd: int, _request: int, _arg: int) -> None:
        raise OSError(errno.EOPNOTSUPP, "no reflink here")

    monkeypatch.setattr(snapshot.fcntl, "ioctl", refuse)


def _assert_copy(volume: Path, copy: Path) -> None:
    assert copy.read_bytes() == volume.read_bytes()
    # Holes stay holes: far less than the 64 MiB size is allocated.
    assert _allocated(copy) <= _allocated(volume) + 2 * MIB
    assert _allocated(copy) < 16 * MIB
    assert not copy.with_name(copy.name + snapshot.PARTIAL_SUFFIX).exists()


def test_copy_keeps_bytes_and_holes(volume: Path, tmp_path: Path) -> None:
    copy = tmp_path / "snaps" / "s.img"
    method = snapshot.copy_point_in_time(volume, copy)
    assert method in ("reflink", "copy")
    _assert_copy(volume, copy)


def test_copy_without_reflink_uses_copy_file_range(
    volume: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_clone(monkeypatch)
    calls: list[int] = []
    real = os.copy_file_range

    def counting(src: int, dst: int, count: int, offset_src: int, offset_dst: int) -> int:
        calls.append(count)
        return real(src, dst, count, offset_src, offset_dst)

    monkeypatch.setattr(snapshot.os, "copy_file_range", counting)
    copy = tmp_path / "s.img"
    assert snapshot.copy_point_in_time(volume, copy) == "copy"
    _assert_copy(volume, copy)
    # Only data extents were asked for, never the 64 MiB as a whole.
    assert calls and sum(calls) < 16 * MIB


def test_copy_falls_back_to_read_write_and_skips_zero_chunks(
    volume: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_clone(monkeypatch)

    def cross_device(*_args: int) -> int:
        raise OSError(errno.EXDEV, "cross-device")

    monkeypatch.setattr(snapshot.os, "copy_file_range", cross_device)
    monkeypatch.setattr(snapshot, "CHUNK", MIB)  # so the 2 MiB zero run is whole chunks
    copy = tmp_path / "s.img"
    assert snapshot.copy_point_in_time(volume, copy) == "copy"
    _assert_copy(volume, copy)
    data_extents = list(iter_data_extents(copy))
    # The zero run inside the source's data extent became a hole in the copy.
    assert not any(start <= 24 * MIB and 25 * MIB <= start + n for start, n in data_extents)


def test_reflink_when_the_file_system_clones(
    volume: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stand in for a cloning file system: FICLONE copies the whole file in one call.
    seen: list[int] = []

    def clone(dst: int, request: int, src: int) -> None:
        seen.append(request)
        size = os.lseek(src, 0, os.SEEK_END)
        os.copy_file_range(src, dst, size, 0, 0)

    monkeypatch.setattr(snapshot.fcntl, "ioctl", clone)
    copy = tmp_path / "s.img"
    assert snapshot.copy_point_in_time(volume, copy) == "reflink"
    assert seen == [snapshot.FICLONE]
    assert copy.read_bytes() == volume.read_bytes()


def test_copy_is_point_in_time_and_repeatable(volume: Path, tmp_path: Path) -> None:
    copy = tmp_path / "s.img"
    snapshot.copy_point_in_time(volume, copy)
    before = volume.read_bytes()
    with open(volume, "r+b") as f:
        os.pwrite(f.fileno(), b"\xff" * MIB, 40 * MIB)
    assert copy.read_bytes() == before  # the copy does not follow the volume
    snapshot.copy_point_in_time(volume, copy)  # a rerun takes a fresh copy
    assert copy.read_bytes() == volume.read_bytes()


def test_unexpected_clone_errors_are_not_swallowed(
    volume: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: int) -> None:
        raise OSError(errno.EIO, "disk on fire")

    monkeypatch.setattr(snapshot.fcntl, "ioctl", broken)
    with pytest.raises(Exception, match="disk on fire"):
        snapshot.copy_point_in_time(volume, tmp_path / "s.img")
    assert not (tmp_path / "s.img").exists()


def test_missing_source_leaves_nothing(tmp_path: Path) -> None:
    copy = tmp_path / "s.img"
    with pytest.raises(ObjectNotFound):
        snapshot.copy_point_in_time(tmp_path / "absent.img", copy)
    assert list(tmp_path.iterdir()) == []


def test_remove_copy_is_idempotent_and_takes_partials(tmp_path: Path) -> None:
    copy = tmp_path / "s.img"
    partial = tmp_path / ("s.img" + snapshot.PARTIAL_SUFFIX)
    copy.write_bytes(b"x")
    partial.write_bytes(b"y")
    assert snapshot.remove_copy(copy)
    assert not copy.exists() and not partial.exists()
    assert not snapshot.remove_copy(copy)
