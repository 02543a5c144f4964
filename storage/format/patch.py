"""Page patches: a changed block stored as the 4 KiB pages that differ from a base block.

An incremental backup usually changes a few pages of a 1 MiB block (a file's data, an
inode table, a bitmap), so storing the whole block again stores ~20x the change. A
patch's content is a page map (one bit per page, little-endian bit order: page ``p`` is
bit ``p % 8`` of byte ``p // 8``) followed by the changed pages in order; page ``p``
covers block bytes ``[p*PAGE, min((p+1)*PAGE, block_len))``. It is stored as one zstd
frame like any block. The base is always a whole-block frame, never another patch, so a
block is at most two frames away from its bytes whatever the chain length
(docs/format.md §3.5).
"""

from __future__ import annotations

from typing import Final

PAGE: Final = 4096


def page_count(block_len: int) -> int:
    """Pages in a block of ``block_len`` bytes (the last one may be short)."""
    return -(-block_len // PAGE)


def diff_pages(base: bytes, data: bytes) -> list[int]:
    """Indices of the pages where ``data`` differs from ``base`` (equal lengths)."""
    if len(base) != len(data):
        raise ValueError(f"a patch needs equal lengths, got {len(base)} and {len(data)}")
    return [
        p
        for p in range(page_count(len(data)))
        if base[p * PAGE : (p + 1) * PAGE] != data[p * PAGE : (p + 1) * PAGE]
    ]


def make_patch(data: bytes, pages: list[int]) -> bytes:
    """The patch content carrying ``pages`` of ``data`` (indices ascending)."""
    page_map = bytearray(-(-page_count(len(data)) // 8))
    for p in pages:
        page_map[p // 8] |= 1 << (p % 8)
    return b"".join([bytes(page_map), *(data[p * PAGE : (p + 1) * PAGE] for p in pages)])


def apply_patch(base: bytes, patch: bytes) -> bytearray:
    """The block ``patch`` makes of ``base`` (patched in a copy); raises ValueError if it
    does not fit."""
    pages = page_count(len(base))
    map_len = -(-pages // 8)
    if len(patch) < map_len:
        raise ValueError("patch shorter than its page map")
    out = bytearray(base)
    pos = map_len
    for p in range(pages):
        if patch[p // 8] >> (p % 8) & 1:
            end = min((p + 1) * PAGE, len(base))
            size = end - p * PAGE
            if pos + size > len(patch):
                raise ValueError("patch shorter than the pages its map lists")
            out[p * PAGE : end] = patch[pos : pos + size]
            pos += size
    if pos != len(patch) or any(patch[map_len - 1] >> b & 1 for b in range(pages % 8 or 8, 8)):
        raise ValueError("patch holds bytes its page map does not list")
    return out
