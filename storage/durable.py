"""Durability of directory entries: a rename or a new file survives a power cut only once
its directory has been fsynced too."""

from __future__ import annotations

import contextlib
import os


def fsync_directory(path: str | os.PathLike[str], *, best_effort: bool = False) -> None:
    """fsync the directory ``path``, making renames and creations in it durable; raises
    OSError, unless ``best_effort`` (some file systems refuse to fsync a directory)."""
    with contextlib.suppress(OSError) if best_effort else contextlib.nullcontext():
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
