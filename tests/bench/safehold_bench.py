"""Safehold's own full backup and restore of the image, through the storage API (no Prefect)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.bench import data

BLOCK_SIZE = 1 << 20
SEGMENT_SIZE = 32 << 20
ZSTD_LEVEL = 3
_PROBE = (
    "from storage import format; format.write_backup; format.restore_backup; "
    "from storage.objects import open_store; "
    "from storage.sources.block import create_volume_file"
)


def storage_api_missing() -> str | None:
    """None when the storage API imports; else the reason (probed in a fresh interpreter,
    so a half-written module never poisons this process's import cache)."""
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=False
    )
    if probe.returncode == 0:
        return None
    lines = probe.stderr.strip().splitlines()
    return lines[-1] if lines else f"probe exited with {probe.returncode}"


def _record(backup_id: str, size: int) -> dict[str, Any]:
    """A catalog-like record for the manifest (the benchmark has no catalog)."""
    gib = max(1, -(-size // (1 << 30)))
    return {
        "id": backup_id,
        "volume_id": "00000000-0000-0000-0000-00000000be0c",
        "project_id": "bench",
        "user_id": "bench",
        "name": "safehold-bench",
        "description": None,
        "status": "creating",
        "size": gib,
        "is_incremental": False,
        "parent_id": None,
        "created_at": datetime.now(UTC).isoformat(),
    }


def run(image: data.Image, workdir: Path) -> dict[str, Any]:
    """Full backup to a file:// store and full restore into a fresh sparse file."""
    from storage import format
    from storage.format import backup as format_backup
    from storage.objects import open_store
    from storage.sources.block import create_volume_file

    store_dir = workdir / "safehold-store"
    store_dir.mkdir()
    store = open_store(f"file://{store_dir}")
    backup_id = str(uuid.uuid4())

    cold_backup = data.drop_caches()
    start = time.perf_counter()
    result = format.write_backup(
        store,
        backup_id=backup_id,
        source_path=image.path,
        record=_record(backup_id, image.size),
        block_size=BLOCK_SIZE,
        segment_size=SEGMENT_SIZE,
        zstd_level=ZSTD_LEVEL,
        parent=None,
        progress=None,
    )
    backup_s = time.perf_counter() - start

    target = workdir / "safehold-restored.img"
    create_volume_file(target, image.size)
    cold_restore = data.drop_caches()
    start = time.perf_counter()
    restored = format.restore_backup(store, backup_id=backup_id, target_path=target, progress=None)
    restore_s = time.perf_counter() - start

    identical = data.same_content(image.path, target)
    target_allocated = data.allocated(target)
    target.unlink()
    return {
        "tool": "safehold",
        "settings": f"block {BLOCK_SIZE >> 20} MiB, segment {SEGMENT_SIZE >> 20} MiB, "
        f"zstd {ZSTD_LEVEL}, sha256, no encryption, holes skipped, "
        f"{getattr(format_backup, 'WORKERS', '?')} backup worker threads",
        "backup_seconds": backup_s,
        "restore_seconds": restore_s,
        "cold_cache": cold_backup and cold_restore,
        "stored_bytes": int(result.stored_bytes),
        "repo_bytes": data.tree_bytes(store_dir),
        "object_count": int(result.object_count),
        "new_blocks": int(result.new_blocks),
        "reused_blocks": int(result.reused_blocks),
        "hole_blocks": int(result.hole_blocks),
        "restore_returned": int(restored),
        "restored_allocated": target_allocated,
        "identical": identical,
    }
