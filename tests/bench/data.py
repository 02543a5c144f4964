"""The reproducible benchmark volume: random, text-like and all-zero regions in a sparse file.

Region kinds are drawn with fixed weights (about 40 % random, 35 % text, 25 % zeros) and
lengths of 1-8 MiB (4 KiB aligned, so zero regions stay real holes), all from one seeded
``random.Random``: the same seed and size give the same bytes on every machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import string
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

MIB = 1024 * 1024
PAGE = 4096
SEED = 20240611
KINDS = ("random", "text", "zeros")
WEIGHTS = (40, 35, 25)
MIN_REGION = 1 * MIB
MAX_REGION = 8 * MIB


@dataclass
class Image:
    """Where the generated image is and what it holds."""

    path: Path
    size: int
    seed: int
    regions: int = 0
    bytes_by_kind: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    allocated: int = 0

    def fractions(self) -> dict[str, float]:
        """Share of the image per region kind."""
        return {k: v / self.size for k, v in self.bytes_by_kind.items()}


class TextSource:
    """Prose-like text (zstd-3 ratio about 4) from a pool of phrases over a synthetic,
    Zipf-weighted vocabulary; each call draws a fresh phrase sequence."""

    def __init__(self, rng: random.Random, vocabulary: int = 5000, phrases: int = 1 << 14) -> None:
        letters = string.ascii_lowercase
        words = ["".join(rng.choices(letters, k=rng.randint(2, 10))) for _ in range(vocabulary)]
        zipf = [1 / (rank + 1) for rank in range(vocabulary)]
        ends = [" "] * 4 + [", ", ".\n", "\n"]
        self._rng = rng
        self._pool = [
            (
                " ".join(rng.choices(words, weights=zipf, k=rng.randint(1, 4))) + rng.choice(ends)
            ).encode()
            for _ in range(phrases)
        ]
        self._mean = sum(len(p) for p in self._pool) // len(self._pool)

    def take(self, length: int) -> bytes:
        """``length`` bytes of text."""
        count = length // self._mean + 16
        data = b"".join(self._rng.choices(self._pool, k=count))
        while len(data) < length:
            data += b"".join(self._rng.choices(self._pool, k=count))
        return data[:length]


def region_plan(size: int, seed: int) -> list[tuple[str, int, int]]:
    """``(kind, offset, length)`` for every region of an image of ``size`` bytes.

    Kinds are drawn at random, weighted by how far each kind is behind its target share, so
    the mix stays within a region or two of WEIGHTS at any size.
    """
    rng = random.Random(seed)
    shares = [w / sum(WEIGHTS) for w in WEIGHTS]
    done = dict.fromkeys(KINDS, 0)
    plan = []
    offset = 0
    while offset < size:
        length = rng.randint(MIN_REGION // PAGE, MAX_REGION // PAGE) * PAGE
        length = min(length, size - offset)
        deficits = [
            max(share * (offset + length) - done[kind], 1.0)
            for kind, share in zip(KINDS, shares, strict=True)
        ]
        kind = rng.choices(KINDS, weights=deficits)[0]
        plan.append((kind, offset, length))
        done[kind] += length
        offset += length
    return plan


def generate(path: Path, size: int, seed: int = SEED) -> Image:
    """Write the image as a sparse file: random and text regions written, zeros left as holes."""
    image = Image(path=path, size=size, seed=seed)
    data_rng = random.Random(seed + 1)
    text = TextSource(random.Random(seed + 2))
    with open(path, "wb") as f:
        f.truncate(size)
        fd = f.fileno()
        for kind, offset, length in region_plan(size, seed):
            image.regions += 1
            image.bytes_by_kind[kind] += length
            if kind == "random":
                os.pwrite(fd, data_rng.randbytes(length), offset)
            elif kind == "text":
                os.pwrite(fd, text.take(length), offset)
        os.fsync(fd)
    image.allocated = allocated(path)
    return image


def sample(kind: str, length: int, seed: int = SEED) -> bytes:
    """A buffer of one region kind, made by the same generators as the image."""
    if kind == "random":
        return random.Random(seed + 101).randbytes(length)
    if kind == "text":
        return TextSource(random.Random(seed + 102)).take(length)
    return bytes(length)


def create_sparse(path: Path, size: int) -> None:
    """An all-hole file of ``size`` bytes (restore target for the peers' comparisons)."""
    with open(path, "wb") as f:
        f.truncate(size)


def allocated(path: Path) -> int:
    """Bytes actually allocated on disk for ``path``."""
    return os.stat(path).st_blocks * 512


def tree_bytes(root: Path) -> int:
    """Apparent size of all regular files under ``root`` (a repository's stored bytes)."""
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def file_digest(path: Path, chunk: int = 16 * MIB) -> str:
    """SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def same_content(a: Path, b: Path, chunk: int = 16 * MIB) -> bool:
    """True if both files hold exactly the same bytes (size checked, then chunked hashes)."""
    if os.path.getsize(a) != os.path.getsize(b):
        return False
    return file_digest(a, chunk) == file_digest(b, chunk)


def drop_caches() -> bool:
    """Best effort: sync and drop the page cache (needs root); True if it worked."""
    subprocess.run(["sync"], check=False)
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError:
        return False
    return True
