"""The manage-volume flow re-confines the stored path before measuring it (defence in depth)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flows import context, tasks
from storage.errors import InvalidRequest


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """SAFEHOLD_MANAGE_ROOTS of the flow process: tmp_path/images."""
    path = tmp_path.resolve() / "images"
    path.mkdir()
    monkeypatch.setenv("SAFEHOLD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SAFEHOLD_MANAGE_ROOTS", str(path))
    context.settings.cache_clear()
    yield path
    context.settings.cache_clear()


def test_a_confined_file_is_measured(root: Path) -> None:
    (root / "disk.img").write_bytes(b"x" * 5000)
    assert tasks.measure_device.fn(str(root / "disk.img")) == 5000


def test_a_path_outside_the_roots_is_not_measured(root: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.img").write_bytes(b"x")
    with pytest.raises(InvalidRequest, match="is not under a managed root"):
        tasks.measure_device.fn(str(tmp_path / "outside.img"))


def test_a_component_swapped_for_a_symlink_is_not_measured(root: Path, tmp_path: Path) -> None:
    (root / "sub").mkdir()
    (root / "sub" / "disk.img").write_bytes(b"x")
    (root / "sub").rename(root / "old")
    (root / "sub").symlink_to(tmp_path)  # now leads out of the root
    (tmp_path / "disk.img").write_bytes(b"secret")
    with pytest.raises(InvalidRequest, match="leads outside the managed roots"):
        tasks.measure_device.fn(str(root / "sub" / "disk.img"))
