"""Which host paths manage-existing may register (docs/operations.md "Manage-existing roots").

A source is accepted only when, symlinks resolved, it lies inside one of the operator's
managed roots and is a regular file, or a block device under a root inside /dev. /proc
and /sys are never accepted, /dev only through a root inside it. Nothing here writes; the
checks read the file system (realpath, stat) and take the roots as arguments.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path, PurePath
from typing import Final

from storage.errors import InvalidRequest

SYSTEM_DIRS: Final = (Path("/proc"), Path("/sys"))
DEVICE_DIR: Final = Path("/dev")
_KINDS: Final = (
    (stat.S_ISREG, "a regular file"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a fifo"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def confined_source(path: str, roots: Iterable[Path]) -> Path:
    """The resolved file `path` names inside `roots`; InvalidRequest saying why otherwise."""
    resolved, real = _confined(path, roots, "SAFEHOLD_MANAGE_ROOTS")
    _check_kind(path, resolved, real)
    return resolved


def confined_directory(path: str, roots: Iterable[Path]) -> Path:
    """The resolved directory `path` names inside `roots` (a share's tree: never under
    /proc, /sys or /dev); InvalidRequest saying why otherwise."""
    resolved, _ = _confined(path, roots, "SAFEHOLD_SHARE_ROOTS")
    if _inside_any(resolved, (*SYSTEM_DIRS, DEVICE_DIR)):
        raise _refused(path, "is under /proc, /sys or /dev, which are never managed")
    try:
        mode = os.stat(resolved).st_mode
    except OSError:
        raise _refused(path, "cannot be read") from None
    if not stat.S_ISDIR(mode):
        raise _refused(path, f"is {_kind(mode)}, not a directory")
    return resolved


def _confined(path: str, roots: Iterable[Path], setting: str) -> tuple[Path, list[Path]]:
    """(resolved path, resolved roots) when `path` lies inside `roots`; InvalidRequest."""
    if not os.path.isabs(path) or "\0" in path:
        raise InvalidRequest("the source must be an absolute path")
    given = [Path(os.path.abspath(root)) for root in roots]
    real = [Path(os.path.realpath(root)) for root in given]
    # Before touching the file system, so that paths elsewhere cannot be probed.
    if not _inside_any(PurePath(os.path.normpath(path)), [*given, *real]):
        raise _refused(path, f"is not under a managed root ({setting})")
    resolved = _resolve(path)
    if not _inside_any(resolved, real):
        raise _refused(path, f"leads outside the managed roots ({setting})")
    return resolved, real


def recheck_source(path: str, roots: Iterable[Path]) -> None:
    """InvalidRequest unless the stored `path` is still confined and its own resolved form."""
    if confined_source(path, roots) != Path(path):
        raise _refused(path, "no longer resolves to itself (a symlink replaced a component)")


def recheck_directory(path: str, roots: Iterable[Path]) -> None:
    """InvalidRequest unless the stored directory `path` is still confined and resolves to
    itself."""
    if confined_directory(path, roots) != Path(path):
        raise _refused(path, "no longer resolves to itself (a symlink replaced a component)")


def _refused(path: str, reason: str) -> InvalidRequest:
    return InvalidRequest(f"{path} {reason}")


def _inside(path: PurePath, root: PurePath) -> bool:
    return path.is_relative_to(root)  # part by part: /srv/vols2 is not inside /srv/vols


def _inside_any(path: PurePath, roots: Iterable[PurePath]) -> bool:
    return any(_inside(path, root) for root in roots)


def _resolve(path: str) -> Path:
    try:
        return Path(path).resolve(strict=True)
    except FileNotFoundError:
        raise _refused(path, "does not exist") from None
    except (OSError, RuntimeError):  # loops, EACCES, a file used as a directory
        raise _refused(path, "cannot be resolved") from None


def _check_kind(path: str, resolved: Path, roots: list[Path]) -> None:
    """InvalidRequest unless `resolved` is a regular file, or a block device of a /dev root."""
    if _inside_any(resolved, SYSTEM_DIRS):
        raise _refused(path, "is under /proc or /sys, which are never managed")
    try:
        mode = os.stat(resolved).st_mode
    except OSError:
        raise _refused(path, "cannot be read") from None
    if _inside(resolved, DEVICE_DIR):
        _check_device(path, resolved, mode, roots)
    elif stat.S_ISBLK(mode):
        raise _refused(path, "is a block device outside /dev (devices need a root inside /dev)")
    elif not stat.S_ISREG(mode):
        raise _refused(path, f"is {_kind(mode)}, not a regular file or block device")


def _check_device(path: str, resolved: Path, mode: int, roots: list[Path]) -> None:
    if not stat.S_ISBLK(mode):
        raise _refused(path, f"is {_kind(mode)}, but under /dev only block devices are managed")
    if not any(_inside(resolved, root) and _inside(root, DEVICE_DIR) for root in roots):
        raise _refused(path, "is under /dev but not under a managed root inside /dev")


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "a special file")
