"""The 32-byte digests of a volume backup's blocks and segments, by algorithm.

Formats 1 and 2 use SHA-256; format 3 names its algorithm in the manifest header and
writes BLAKE3 by default: 3.8 GB/s against SHA-256's 1.2 GB/s on one core of this
machine (make bench's hardware line), where hashing was a fifth of a backup's CPU. An
incremental backup keeps its parent's algorithm, so that its blocks compare with the
parent's (docs/format.md §3).
The manifest's own trailer stays SHA-256 whatever the algorithm.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Final

import blake3

SHA256: Final = "sha256"
BLAKE3: Final = "blake3"
DEFAULT: Final = BLAKE3

_FUNCTIONS: Final[dict[str, Callable[[bytes | bytearray | memoryview], bytes]]] = {
    SHA256: lambda data: hashlib.sha256(data).digest(),
    BLAKE3: lambda data: blake3.blake3(data).digest(),
}
ALGORITHMS: Final = frozenset(_FUNCTIONS)


def digest(algorithm: str, data: bytes | bytearray | memoryview) -> bytes:
    """The 32-byte digest of ``data``; KeyError for an unknown algorithm."""
    return _FUNCTIONS[algorithm](data)
