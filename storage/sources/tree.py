"""Share trees on the host: create, check and remove the directory a share exports."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from storage.errors import PermanentStorageError, TransientStorageError


def create_share_dir(path: Path) -> None:
    """Create the (empty) directory of a new share, mode 0o755; idempotent."""
    try:
        path.mkdir(mode=0o755, parents=True, exist_ok=True)
    except OSError as exc:
        raise _translated(exc, f"cannot create share directory {path}") from exc


def delete_share_dir(path: Path) -> None:
    """Remove a share's directory and everything in it; idempotent (missing is done)."""
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _translated(exc, f"cannot remove share directory {path}") from exc


def _translated(exc: OSError, message: str) -> Exception:
    if exc.errno in (errno.EAGAIN, errno.EBUSY, errno.EINTR):
        return TransientStorageError(f"{message}: {exc.strerror}")
    return PermanentStorageError(f"{message}: {exc.strerror}")
