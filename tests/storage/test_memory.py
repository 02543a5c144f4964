"""The data path's malloc setting: large buffers are returned to the OS when freed."""

from __future__ import annotations

import platform

import pytest

from storage.memory import return_large_buffers


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_the_mmap_threshold_is_fixed_once_per_process() -> None:
    assert return_large_buffers() is True
    assert return_large_buffers() is True  # cached: mallopt is not called again
    assert return_large_buffers.cache_info().misses <= 1
