"""Manage-existing confinement: only regular files (and /dev block devices) inside the roots."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.errors import InvalidRequest
from storage.settings import Settings
from storage.sources.confine import confined_source, recheck_source


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "volumes"
    path.mkdir()
    return path.resolve()


@pytest.fixture
def image(root: Path) -> Path:
    path = root / "disk.img"
    path.write_bytes(b"\0" * 4096)
    return path


def _refused(path: str | Path, roots: list[Path], reason: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        confined_source(str(path), roots)
    assert reason in str(caught.value)


def _block_device() -> Path:
    for path in sorted(Path("/dev").iterdir()):
        if stat.S_ISBLK(path.lstat().st_mode):
            return path
    pytest.skip("no block device node under /dev")


def test_a_regular_file_under_the_root_is_accepted(root: Path, image: Path) -> None:
    assert confined_source(str(image), [root]) == image


def test_a_symlink_inside_the_root_is_stored_resolved(root: Path, image: Path) -> None:
    (root / "sub").mkdir()
    link = root / "sub" / "alias.img"
    link.symlink_to(image)
    assert confined_source(str(link), [root]) == image


def test_a_root_reached_through_a_symlink_works_both_ways(tmp_path: Path, image: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(image.parent)
    assert confined_source(str(alias / image.name), [alias]) == image
    assert confined_source(str(image), [alias]) == image


def test_a_root_may_be_a_single_file(root: Path, image: Path) -> None:
    assert confined_source(str(image), [image]) == image
    other = root / "other.img"
    other.write_bytes(b"x")
    _refused(other, [image], "is not under a managed root (SAFEHOLD_MANAGE_ROOTS)")


@pytest.mark.parametrize("path", ["/etc/shadow", "/etc/passwd", "/proc/self/environ", "/"])
def test_paths_outside_the_roots_are_refused(root: Path, path: str) -> None:
    _refused(path, [root], f"{path} is not under a managed root (SAFEHOLD_MANAGE_ROOTS)")


def test_a_sibling_with_the_roots_name_as_prefix_is_outside(tmp_path: Path, root: Path) -> None:
    sibling = tmp_path / "volumes2"
    sibling.mkdir()
    (sibling / "x.img").write_bytes(b"x")
    _refused(sibling / "x.img", [root], "is not under a managed root")


def test_dotdot_out_of_the_root_is_refused_without_looking(root: Path) -> None:
    _refused(f"{root}/../../../etc/shadow", [root], "is not under a managed root")


def test_no_roots_refuses_everything(image: Path) -> None:
    _refused(image, [], "is not under a managed root")


def test_a_relative_path_is_refused(root: Path, image: Path) -> None:
    _refused(os.path.relpath(image), [root], "must be an absolute path")


def test_a_missing_file_is_refused(root: Path) -> None:
    _refused(root / "missing.img", [root], "does not exist")


def test_a_dangling_symlink_is_refused(root: Path) -> None:
    (root / "dangling.img").symlink_to(root / "missing.img")
    _refused(root / "dangling.img", [root], "does not exist")


def test_a_symlink_loop_is_refused(root: Path) -> None:
    (root / "a").symlink_to(root / "b")
    (root / "b").symlink_to(root / "a")
    _refused(root / "a", [root], "cannot be resolved")


def test_a_symlink_leading_out_of_the_root_is_refused(tmp_path: Path, root: Path) -> None:
    outside = tmp_path / "outside.img"
    outside.write_bytes(b"secret")
    (root / "escape.img").symlink_to(outside)
    _refused(root / "escape.img", [root], "leads outside the managed roots")
    (root / "passwd").symlink_to("/etc/passwd")
    _refused(root / "passwd", [root], "leads outside the managed roots")


def test_a_symlinked_directory_leading_out_is_refused(tmp_path: Path, root: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.img").write_bytes(b"x")
    (root / "dir").symlink_to(tmp_path / "elsewhere")
    _refused(root / "dir" / "x.img", [root], "leads outside the managed roots")


def test_a_directory_is_refused(root: Path) -> None:
    (root / "sub").mkdir()
    _refused(root / "sub", [root], "is a directory, not a regular file or block device")
    _refused(root, [root], "is a directory")


def test_a_fifo_is_refused(root: Path) -> None:
    os.mkfifo(root / "pipe")
    _refused(root / "pipe", [root], "is a fifo, not a regular file or block device")


def test_a_socket_is_refused(root: Path) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(root / "s.sock"))
        _refused(root / "s.sock", [root], "is a socket, not a regular file or block device")


def test_a_character_device_is_refused_even_under_a_dev_root(root: Path) -> None:
    (root / "null").symlink_to("/dev/null")
    _refused(root / "null", [root], "leads outside the managed roots")
    _refused("/dev/null", [Path("/dev")], "is a character device, but under /dev only block")


def test_proc_and_sys_are_never_managed(root: Path) -> None:
    _refused("/proc/self/environ", [Path("/")], "is under /proc or /sys, which are never managed")
    _refused("/proc/self/environ", [Path("/proc")], "is under /proc or /sys")
    _refused("/sys/kernel", [Path("/sys")], "is under /proc or /sys")


def test_dev_needs_a_root_inside_dev() -> None:
    device = _block_device()
    _refused(device, [Path("/")], "is under /dev but not under a managed root inside /dev")
    assert confined_source(str(device), [Path("/dev")]) == device
    assert confined_source(str(device), [device]) == device


def test_only_block_devices_are_managed_under_dev(tmp_path: Path) -> None:
    if not os.access("/dev/shm", os.W_OK):
        pytest.skip("/dev/shm is not writable")
    shm = Path("/dev/shm") / f"safehold-test-{os.getpid()}-{tmp_path.name}"
    shm.write_bytes(b"x")
    try:
        _refused(shm, [Path("/dev/shm")], "is a regular file, but under /dev only block devices")
    finally:
        shm.unlink()


def test_a_block_device_outside_dev_is_refused(root: Path) -> None:
    device = _block_device()
    node = root / "dev0"
    try:
        os.mknod(node, stat.S_IFBLK | 0o600, device.stat().st_rdev)
    except PermissionError:
        pytest.skip("mknod needs CAP_MKNOD")
    _refused(node, [root], "is a block device outside /dev")


@pytest.fixture
def swapped(tmp_path: Path, root: Path) -> Iterator[Path]:
    """A stored path whose directory was later replaced by a symlink to another place."""
    (root / "sub").mkdir()
    stored = root / "sub" / "disk.img"
    stored.write_bytes(b"x")
    (root / "other").mkdir()
    (root / "other" / "disk.img").write_bytes(b"y")
    (root / "sub").rename(root / "old")
    (root / "sub").symlink_to(root / "other")
    yield stored


def test_recheck_accepts_a_stored_resolved_path(root: Path, image: Path) -> None:
    recheck_source(str(image), [root])


def test_recheck_refuses_a_path_that_no_longer_resolves_to_itself(
    root: Path, swapped: Path
) -> None:
    with pytest.raises(InvalidRequest, match="no longer resolves to itself"):
        recheck_source(str(swapped), [root])


def test_recheck_refuses_a_path_that_left_the_roots(tmp_path: Path, image: Path) -> None:
    with pytest.raises(InvalidRequest, match="is not under a managed root"):
        recheck_source(str(image), [tmp_path / "elsewhere"])


def test_settings_default_root_is_the_volumes_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.manage_root_paths() == (tmp_path.resolve() / "volumes",)


def test_settings_roots_are_pathsep_separated_and_absolute(tmp_path: Path) -> None:
    roots = os.pathsep.join([str(tmp_path / "a"), " relative/b ", ""])
    settings = Settings(data_dir=tmp_path, manage_roots=roots)
    assert settings.manage_root_paths() == (tmp_path / "a", Path.cwd() / "relative" / "b")


def test_settings_empty_roots_disable_manage_existing(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, manage_roots="").manage_root_paths() == ()


def test_settings_roots_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAFEHOLD_MANAGE_ROOTS", f"/srv/a{os.pathsep}/dev/vg0")
    assert Settings(data_dir=tmp_path).manage_root_paths() == (Path("/srv/a"), Path("/dev/vg0"))
