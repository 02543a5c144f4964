"""The machine's own limits, measured in the same run: sha256, BLAKE3, zstd and a cold disk
read."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import zstandard

from storage.format.digest import BLAKE3, digest
from tests.bench import data

BUFFER = 64 * data.MIB
MIN_SECONDS = 1.0
MIN_ROUNDS = 3


@dataclass
class Throughput:
    """One measurement: bytes processed and the wall time it took."""

    nbytes: int
    seconds: float

    @property
    def mb_s(self) -> float:
        """MB/s with 1 MB = 10^6 bytes."""
        return self.nbytes / self.seconds / 1e6 if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form, MB/s included."""
        return {**asdict(self), "mb_s": round(self.mb_s, 1)}


def _repeat(work: Callable[[], int]) -> Throughput:
    """Run ``work`` (returns bytes processed) until MIN_SECONDS and MIN_ROUNDS are reached."""
    work()  # warm-up: page in the buffer, build tables
    total, rounds = 0, 0
    start = time.perf_counter()
    while True:
        total += work()
        rounds += 1
        elapsed = time.perf_counter() - start
        if rounds >= MIN_ROUNDS and elapsed >= MIN_SECONDS:
            return Throughput(total, elapsed)


def sha256_throughput(buffer: bytes, threads: int = 1) -> Throughput:
    """Aggregate sha256 speed of ``threads`` threads, each hashing its own copy of ``buffer``.

    hashlib releases the GIL for large inputs, so threads scale with free cores.
    """
    if threads == 1:

        def one() -> int:
            hashlib.sha256(buffer).digest()
            return len(buffer)

        return _repeat(one)
    copies = [bytes(buffer) for _ in range(threads)]
    with ThreadPoolExecutor(max_workers=threads) as pool:

        def round_() -> int:
            list(pool.map(lambda b: hashlib.sha256(b).digest(), copies))
            return len(buffer) * threads

        return _repeat(round_)


def blake3_throughput(buffer: bytes) -> Throughput:
    """BLAKE3 speed of one thread (the block digest of format 3)."""

    def one() -> int:
        digest(BLAKE3, buffer)
        return len(buffer)

    return _repeat(one)


def zstd_throughput(buffer: bytes, level: int = 3) -> dict[str, Any]:
    """Single-thread zstd compress and decompress speed (of uncompressed bytes) and ratio."""
    compressor = zstandard.ZstdCompressor(level=level)
    compressed = compressor.compress(buffer)
    decompressor = zstandard.ZstdDecompressor()

    def compress() -> int:
        compressor.compress(buffer)
        return len(buffer)

    comp = _repeat(compress)
    decomp = _repeat(lambda: len(decompressor.decompress(compressed)))
    return {
        "level": level,
        "ratio": round(len(buffer) / len(compressed), 3),
        "compress": comp.as_dict(),
        "decompress": decomp.as_dict(),
    }


def cold_read(path: Path, chunk: int = 16 * data.MIB) -> Throughput:
    """One sequential read of the whole file right after a cache drop (holes read as zeros)."""
    data.drop_caches()
    start = time.perf_counter()
    total = 0
    with open(path, "rb", buffering=0) as f:
        while block := f.read(chunk):
            total += len(block)
    return Throughput(total, time.perf_counter() - start)


def measure(image: Path) -> dict[str, Any]:
    """All hardware numbers of this run."""
    random_part = data.sample("random", BUFFER)
    text_part = data.sample("text", BUFFER)
    threads = min(2, os.cpu_count() or 1)
    return {
        "cpu_count": os.cpu_count(),
        "buffer_bytes": BUFFER,
        "sha256_1_thread": sha256_throughput(random_part, 1).as_dict(),
        "sha256_threads": threads,
        "sha256_n_threads": sha256_throughput(random_part, threads).as_dict(),
        "blake3_1_thread": blake3_throughput(random_part).as_dict(),
        "zstd3_random": zstd_throughput(random_part, 3),
        "zstd3_text": zstd_throughput(text_part, 3),
        "cold_read_image": cold_read(image).as_dict(),
    }
