"""Incremental backup after a scattered ~2 % change: Safehold against restic.

On a sparse copy of the bench image: a full backup with each tool, then 200 seeded random
100 KiB writes at random offsets (about 2 % of a 1 GiB image), then each tool's
incremental. Reported: time and bytes each incremental added, against the changed bytes
at Safehold's block granularity (distinct 1 MiB blocks touched x 1 MiB); and the time of
Safehold's restore of the incremental against its restore of the full backup. Then a
chain: SAFEHOLD_BENCH_CHAIN (default 50) more incrementals, each after its own seeded
change, and the restore of the chain's last one against the restore of a full backup
of the same bytes.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.bench import data, peers

BLOCK_SIZE = 1 << 20
SEGMENT_SIZE = 16 << 20
ZSTD_LEVEL = 1
WRITES = 200
WRITE_SIZE = 100 * 1024
CHANGE_SEED = 20240612


def change(path: Path, size: int, seed: int = CHANGE_SEED) -> dict[str, int]:
    """Apply the reproducible scattered writes; bytes written and 1 MiB blocks touched."""
    rng = random.Random(seed)
    touched: set[int] = set()
    with open(path, "r+b") as f:
        for _ in range(WRITES):
            offset = rng.randrange(0, size - WRITE_SIZE)
            os.pwrite(f.fileno(), rng.randbytes(WRITE_SIZE), offset)
            touched.update(range(offset // BLOCK_SIZE, (offset + WRITE_SIZE - 1) // BLOCK_SIZE + 1))
        os.fsync(f.fileno())
    return {
        "writes": WRITES,
        "bytes_written": WRITES * WRITE_SIZE,
        "blocks_touched": len(touched),
        "block_granular_bytes": len(touched) * BLOCK_SIZE,
    }


def _record(backup_id: str, parent_id: str | None) -> dict[str, Any]:
    return {"id": backup_id, "parent_id": parent_id, "name": "safehold-bench-incremental"}


class _Safehold:
    """Full, incremental and restores through storage.format on a file:// store."""

    def __init__(self, workdir: Path) -> None:
        from storage.objects import open_store

        self.dir = workdir / "incr-safehold-store"
        self.dir.mkdir()
        self.store = open_store(f"file://{self.dir}")

    def backup(self, source: Path, parent_id: str | None) -> tuple[str, float, Any]:
        from storage import format

        parent = format.read_manifest(self.store, parent_id) if parent_id else None
        backup_id = str(uuid.uuid4())
        data.drop_caches()
        start = time.perf_counter()
        result = format.write_backup(
            self.store,
            backup_id=backup_id,
            source_path=source,
            record=_record(backup_id, parent_id),
            block_size=BLOCK_SIZE,
            segment_size=SEGMENT_SIZE,
            zstd_level=ZSTD_LEVEL,
            parent=parent,
        )
        return backup_id, time.perf_counter() - start, result

    def restore(self, backup_id: str, target: Path, size: int) -> float:
        from storage import format
        from storage.sources.block import create_volume_file

        target.unlink(missing_ok=True)
        create_volume_file(target, size)
        data.drop_caches()
        start = time.perf_counter()
        format.restore_backup(self.store, backup_id=backup_id, target_path=target)
        return time.perf_counter() - start


class _Restic:
    """restic init and backups of one path into a local repository (same settings as peers)."""

    def __init__(self, workdir: Path) -> None:
        self.binary = peers.ensure_tool("restic", "restic")
        self.repo = workdir / "incr-restic-repo"
        self.env = {
            **os.environ,
            "RESTIC_REPOSITORY": str(self.repo),
            "RESTIC_CACHE_DIR": str(workdir / "incr-restic-cache"),
            "RESTIC_PASSWORD": peers.RESTIC_PASSWORD,
            "RESTIC_PROGRESS_FPS": "0.1",
        }
        init = [self.binary, "init", "--quiet"]
        if "--repository-version" in self._help("init"):
            init += ["--repository-version", "2"]  # compressed format, as in peers
        self._run(init)

    def _help(self, command: str) -> str:
        proc = subprocess.run(
            [self.binary, command, "--help"], capture_output=True, text=True, check=False
        )
        return proc.stdout + proc.stderr

    def _run(self, argv: Sequence[str]) -> None:
        proc = subprocess.run(list(argv), env=self.env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise peers.PeerError(f"{argv[1]} exited {proc.returncode}: {proc.stderr[-500:]}")

    def backup(self, source: Path) -> tuple[float, int]:
        """Seconds and bytes the repository grew by."""
        before = data.tree_bytes(self.repo)
        data.drop_caches()
        start = time.perf_counter()
        self._run([self.binary, "backup", "--quiet", "--host", "bench", str(source)])
        return time.perf_counter() - start, data.tree_bytes(self.repo) - before


def _sparse_copy(source: Path, target: Path) -> None:
    """Copy keeping holes (and sharing extents where the filesystem can)."""
    cp = shutil.which("cp")
    if cp is not None:
        argv = [cp, "--sparse=always", "--reflink=auto", str(source), str(target)]
        if subprocess.run(argv, capture_output=True, check=False).returncode == 0:
            return
    data.create_sparse(target, source.stat().st_size)
    with open(source, "rb") as src, open(target, "r+b") as dst:
        for offset in range(0, source.stat().st_size, 16 * data.MIB):
            chunk = os.pread(src.fileno(), 16 * data.MIB, offset)
            if chunk.count(0) != len(chunk):
                os.pwrite(dst.fileno(), chunk, offset)


def run(image: data.Image, workdir: Path) -> dict[str, Any]:
    """Full + incremental with Safehold and restic on a changed copy of the image."""
    volume = workdir / "incr-volume.img"
    _sparse_copy(image.path, volume)
    safehold, restic = _Safehold(workdir), _Restic(workdir)

    full_id, full_s, full = safehold.backup(volume, None)
    restic_full_s, restic_full_bytes = restic.backup(volume)
    changed = change(volume, image.size)
    incr_id, incr_s, incr = safehold.backup(volume, full_id)
    restic_incr_s, restic_incr_bytes = restic.backup(volume)

    target = workdir / "incr-restored.img"
    restore_full_s = safehold.restore(full_id, target, image.size)
    restore_incr_s = safehold.restore(incr_id, target, image.size)
    identical = data.same_content(volume, target)
    chain = _chain(safehold, volume, image.size, incr_id, target)
    target.unlink()
    volume.unlink()
    granular = changed["block_granular_bytes"]
    return {
        "chain": chain,
        "change": changed,
        "safehold": {
            "full_seconds": full_s,
            "full_stored_bytes": int(full.stored_bytes),
            "incremental_seconds": incr_s,
            "incremental_stored_bytes": int(incr.stored_bytes),
            "incremental_new_blocks": int(incr.new_blocks),
            "incremental_reused_blocks": int(incr.reused_blocks),
            "stored_vs_changed_blocks": incr.stored_bytes / granular,
            "restore_full_seconds": restore_full_s,
            "restore_incremental_seconds": restore_incr_s,
            "incremental_restore_identical": identical,
        },
        "restic": {
            "full_seconds": restic_full_s,
            "full_repo_growth_bytes": restic_full_bytes,
            "incremental_seconds": restic_incr_s,
            "incremental_repo_growth_bytes": restic_incr_bytes,
            "growth_vs_changed_blocks": restic_incr_bytes / granular,
        },
    }


def _chain(
    safehold: _Safehold, volume: Path, size: int, parent_id: str, target: Path
) -> dict[str, Any]:
    """More incrementals on top of ``parent_id``, each after a fresh change; the last one
    restored (timed, verified)."""
    length = int(os.environ.get("SAFEHOLD_BENCH_CHAIN", "").strip() or 50)
    seconds, stored, patched = [], 0, 0
    for n in range(length):
        change(volume, size, seed=CHANGE_SEED + 1 + n)
        parent_id, took, result = safehold.backup(volume, parent_id)
        seconds.append(took)
        stored += int(result.stored_bytes)
        patched = int(result.manifest.stats.get("patched_blocks", 0))
    restore_s = safehold.restore(parent_id, target, size)
    identical = data.same_content(volume, target)
    # The same bytes as a full backup: what the chain's last restore is measured against
    # (the first full held other, more compressible, bytes).
    full_id, _, _ = safehold.backup(volume, None)
    return {
        "length": length,
        "backup_seconds_mean": sum(seconds) / max(1, len(seconds)),
        "stored_bytes": stored,
        "last_patched_blocks": patched,
        "restore_last_seconds": restore_s,
        "restore_same_full_seconds": safehold.restore(full_id, target, size),
        "restore_last_identical": identical and data.same_content(volume, target),
    }


def render(result: dict[str, Any]) -> str:
    """The section as a few plain lines (or the error / skip reason)."""
    if not result or "change" not in result:
        return f"\nincremental: {result.get('error') or result.get('skipped') or 'not run'}"
    c, s, r = result["change"], result["safehold"], result["restic"]
    mib = data.MIB
    lines = [
        "",
        f"incremental after {c['writes']} random {WRITE_SIZE // 1024} KiB writes "
        f"({c['bytes_written'] / mib:.1f} MiB written, {c['blocks_touched']} 1-MiB blocks "
        f"touched = {c['block_granular_bytes'] / mib:.0f} MiB at block granularity)",
        f"  {'tool':<9} {'full s':>7} {'full MiB':>9} {'incr s':>7} {'incr MiB':>9} "
        f"{'incr/changed':>12}",
        f"  {'safehold':<9} {s['full_seconds']:>7.1f} {s['full_stored_bytes'] / mib:>9.1f} "
        f"{s['incremental_seconds']:>7.1f} {s['incremental_stored_bytes'] / mib:>9.1f} "
        f"{s['stored_vs_changed_blocks']:>12.2f}",
        f"  {'restic':<9} {r['full_seconds']:>7.1f} {r['full_repo_growth_bytes'] / mib:>9.1f} "
        f"{r['incremental_seconds']:>7.1f} {r['incremental_repo_growth_bytes'] / mib:>9.1f} "
        f"{r['growth_vs_changed_blocks']:>12.2f}",
        f"  safehold restore: full {s['restore_full_seconds']:.1f} s, incremental "
        f"{s['restore_incremental_seconds']:.1f} s "
        f"(byte-identical: {s['incremental_restore_identical']})",
    ]
    chain = result.get("chain")
    if chain:
        lines.append(
            f"  chain of {chain['length']} more incrementals: {chain['backup_seconds_mean']:.2f} s "
            f"each, {chain['stored_bytes'] / mib:.1f} MiB stored in all; the last one "
            f"({chain['last_patched_blocks']} patched blocks) restores in "
            f"{chain['restore_last_seconds']:.1f} s, a full backup of the same bytes in "
            f"{chain['restore_same_full_seconds']:.1f} s: "
            f"{chain['restore_last_seconds'] / max(chain['restore_same_full_seconds'], 1e-9):.2f}x"
            f" (byte-identical: {chain['restore_last_identical']})"
        )
    return "\n".join(lines)
