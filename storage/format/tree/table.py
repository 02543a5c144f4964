"""Building a backup's chunk table and pack list: new chunks, and rows copied from the parent.

Only chunks some entry of the new backup references get a row, each id once; a row copied
from the parent keeps its location (an ancestor's pack), whose name and size join the pack
list, so the new manifest names every pack it needs and restores on its own.
"""

from __future__ import annotations

import struct
from typing import Any

from storage.format.tree.chunking import CHUNK_ROW
from storage.format.tree.entries import Run
from storage.format.tree.manifest import TreeManifest

_ROW = CHUNK_ROW.size
_PACK = struct.Struct("<I")  # the pack index field, right after the 32-byte sha256


class ChunkTable:
    """The chunk table and pack list under construction (driven by one thread)."""

    def __init__(self, parent: TreeManifest | None) -> None:
        self.rows = bytearray()
        self._index: dict[bytes, int] = {}
        self._parent = parent
        # What an incremental deduplicates against: every chunk id of the parent.
        self._parent_index = parent.chunk_hashes() if parent is not None else {}
        self.pack_names: list[str] = []
        self.pack_sizes: list[int] = []
        self._pack_slot: dict[str, int] = {}
        self._parent_slots: dict[int, int] = {}  # parent pack index -> slot here

    def known(self, sha256: bytes) -> bool:
        """True if a chunk with this id is stored already (here or in the parent).

        Called from pool threads while the owner thread adds rows: single dict lookups
        are atomic under the GIL, and a stale "no" only costs a redundant compression.
        """
        return sha256 in self._index or sha256 in self._parent_index

    def existing(self, sha256: bytes) -> int | None:
        """The row index of a stored chunk with this id (copying the parent's row), or None."""
        index = self._index.get(sha256)
        if index is not None:
            return index
        parent_row = self._parent_index.get(sha256)
        return None if parent_row is None else self.copy_parent(parent_row)

    def copy_parent(self, parent_row: int) -> int:
        """The row index of the parent's row ``parent_row`` here, copying it the first time."""
        parent = self._parent
        assert parent is not None
        rows = parent.chunk_rows
        at = parent_row * _ROW
        sha = rows[at : at + 32]
        index = self._index.get(sha)
        if index is not None:
            return index
        (pack,) = _PACK.unpack_from(rows, at + 32)
        slot = self._parent_slots.get(pack)
        if slot is None:
            slot = self._slot(parent.pack_names[pack], parent.pack_sizes[pack])
            self._parent_slots[pack] = slot
        index = len(self._index)
        self.rows += sha
        self.rows += _PACK.pack(slot)
        self.rows += rows[at + 36 : at + _ROW]  # offset, lengths and flags as they are
        self._index[sha] = index
        return index

    def copy_runs(self, runs: tuple[Run, ...]) -> tuple[Run, ...]:
        """A parent file's runs with their chunk indices mapped into this table."""
        copy = self.copy_parent
        return tuple((offset, tuple(copy(index) for index in indices)) for offset, indices in runs)

    def copy_raw_runs(self, runs: list[list[Any]]) -> tuple[Run, ...]:
        """Like copy_runs, for the raw (verified) ``[[offset, index, ...], ...]`` form."""
        copy = self.copy_parent
        return tuple((run[0], tuple([copy(index) for index in run[1:]])) for run in runs)

    def add_new(
        self, sha256: bytes, pack: str, offset: int, stored_len: int, raw_len: int, flags: int
    ) -> int:
        """Add a chunk this backup stored in its own pack ``pack``; its row index."""
        return self._append(sha256, self._slot(pack, 0), offset, stored_len, raw_len, flags)

    def _append(
        self, sha256: bytes, slot: int, offset: int, stored_len: int, raw_len: int, flags: int
    ) -> int:
        index = len(self._index)
        self.rows += CHUNK_ROW.pack(sha256, slot, offset, stored_len, raw_len, flags)
        self._index[sha256] = index
        return index

    def _slot(self, name: str, size: int) -> int:
        """The pack list index of pack ``name``, listing it on first use."""
        slot = self._pack_slot.get(name)
        if slot is None:
            slot = self._pack_slot[name] = len(self.pack_names)
            self.pack_names.append(name)
            self.pack_sizes.append(size)
        return slot

    def set_pack_size(self, name: str, size: int) -> None:
        """Record the final size of one of this backup's own packs (known once sealed)."""
        slot = self._pack_slot.get(name)
        if slot is not None:
            self.pack_sizes[slot] = size

    def packs(self) -> list[list[str | int]]:
        """The manifest's pack list: [[name, size], ...] in first-reference order."""
        return [[name, size] for name, size in zip(self.pack_names, self.pack_sizes, strict=True)]
