"""Keeping a data mover's memory flat: large buffers go back to the OS when freed.

glibc serves allocations above its mmap threshold (128 KiB at start) with mmap, but
raises that threshold to the size of every such buffer freed, up to 32 MiB. After the
first segment is freed, segment-sized buffers come from the heap, which fragments and is
not given back: a restore of the 2 GiB bench image peaked at 160 MiB RSS, 117 MiB with
the threshold fixed at 2 MiB (1 MiB blocks still reuse heap chunks; segments do not).
"""

from __future__ import annotations

import ctypes
import functools
import logging
from typing import Final

from storage import libc

log = logging.getLogger(__name__)

_M_MMAP_THRESHOLD: Final = -3  # malloc.h
MMAP_THRESHOLD: Final = 2 << 20


@functools.cache
def return_large_buffers() -> bool:
    """Fix glibc's mmap threshold at MMAP_THRESHOLD for this process (once; idempotent).
    False where the C library has no mallopt (not glibc): nothing changes."""
    mallopt = libc.function("mallopt", [ctypes.c_int, ctypes.c_int])
    if mallopt is None:
        return False
    done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    log.debug("malloc mmap threshold fixed at %d bytes: %s", MMAP_THRESHOLD, done)
    return done
