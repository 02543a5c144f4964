"""C library functions Python's os module lacks (fallocate with flags, sync_file_range,
mallopt), loaded through ctypes where the platform has them."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable
from typing import Any, cast


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None


def function(name: str, argtypes: list[Any]) -> Callable[..., int] | None:
    """libc's ``name`` taking ``argtypes`` and returning an int, or None if absent."""
    func = getattr(_libc(), name, None)
    if func is None:
        return None
    func.argtypes = argtypes
    func.restype = ctypes.c_int
    return cast(Callable[..., int], func)
