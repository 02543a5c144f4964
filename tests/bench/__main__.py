"""`python -m tests.bench`: run every section, print the table, write bench-results/latest.json.

Environment:
  SAFEHOLD_BENCH_SIZE_MIB       image size in MiB (default 1024)
  SAFEHOLD_BENCH_DIR            parent of the temporary work dir (default /tmp)
  SAFEHOLD_BENCH_SKIP_SERVICE=1 skip the orchestration-latency part (no `safehold run`)
  SAFEHOLD_BENCH_KEEP=1         keep the work dir (image, repositories) afterwards
  SAFEHOLD_BENCH_SKIP_SHARES=1  skip the share (directory tree) section
  SAFEHOLD_BENCH_ONLY=shares    run only the share section (results: bench-results/shares.json)
  SAFEHOLD_BENCH_ONLY=latency   run only the orchestration latency (bench-results/latency.json)
  SAFEHOLD_BENCH_ONLY=databases run only the database section (settings: tests/bench/databases.py)
  SAFEHOLD_BENCH_ONLY=fsimage   run only the ext4 image section (settings: tests/bench/fsimage.py)
  SAFEHOLD_BENCH_ONLY=memory    run only the memory-vs-volume-size section (tests/bench/memory.py)
  SAFEHOLD_BENCH_SKIP_MEMORY=1  skip the memory section; SAFEHOLD_BENCH_MEMORY_GIB sizes ("1,2,4")
  SAFEHOLD_BENCH_TREE_MIB       size of the share section's "mixed" tree in MiB (default 700)
  SAFEHOLD_BENCH_SMALL_FILES    files in the share section's "small" tree (default 100000)
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.bench import (
    data,
    databases,
    fsimage,
    hardware,
    incremental,
    latency,
    memory,
    peers,
    report,
    safehold_bench,
    shares,
)

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench-results" / "latest.json"
SHARE_RESULTS = ROOT / "bench-results" / "shares.json"
LATENCY_RESULTS = ROOT / "bench-results" / "latency.json"
ONLY = ("shares", "latency", "databases", "fsimage", "memory")

NOTES = [
    "one run per tool, wall clock; the page cache is dropped before every timed backup and "
    "restore when possible (see header), so backups read the image from disk (in a VM the "
    "host may still cache the disk: the 'cold read' row shows what a read really costs)",
    "all three tools hash with SHA-256: Safehold fixed 1 MiB blocks, restic content-defined "
    "chunks (~1 MiB avg), borg buzhash chunks (~2 MiB avg); the sha256 rows are the ceiling",
    "restic always encrypts (AES-256-CTR + Poly1305) and its compression 'auto' is zstd at "
    "its fastest level; Safehold and borg (--encryption=none) do not encrypt",
    "stored MiB = bytes in the repository directory (restic/borg incl. index and metadata) "
    "or Safehold's reported stored_bytes",
    "MB/s = logical image size (10^6 bytes) / seconds, zero regions included; Safehold "
    "skips holes (SEEK_DATA), so its logical MB/s can exceed the sha256 ceiling",
    "latency: 'flow run start_time' is when Prefect marked the create-backup run Running "
    "(the flow body starts right after); the runner claims runs on the server's Scheduled "
    "event and starts them in warm processes (docs/operations.md 'Start latency')",
]


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def _section(title: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one part; a failure is recorded and printed, the other parts still run."""
    print(f"* {title} ...", flush=True)
    start = time.perf_counter()
    try:
        result = fn()
    except Exception as exc:
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    print(f"  done in {time.perf_counter() - start:.1f} s", flush=True)
    return result


def _safehold(image: data.Image, workdir: Path) -> dict[str, Any]:
    missing = safehold_bench.storage_api_missing()
    if missing:
        return {"skipped": f"storage API not importable yet ({missing})"}
    return safehold_bench.run(image, workdir)


def main() -> int:
    only = os.environ.get("SAFEHOLD_BENCH_ONLY", "").strip()
    if only and only not in ONLY:
        print(f"SAFEHOLD_BENCH_ONLY={only!r}: unknown section (known: {', '.join(ONLY)})")
        return 2
    size = int(os.environ.get("SAFEHOLD_BENCH_SIZE_MIB", "1024")) * data.MIB
    parent = Path(os.environ.get("SAFEHOLD_BENCH_DIR") or tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="safehold-bench-", dir=parent))
    print(f"work dir {workdir}", flush=True)
    if only == "latency":
        return _latency_only(workdir)
    if only == "databases":
        return databases.only(workdir)
    if only == "fsimage":
        return fsimage.only(workdir)
    if only == "memory":
        return memory.only(workdir)
    try:
        results = run_shares_only(workdir) if only == "shares" else run(size, workdir)
    finally:
        if _env_flag("SAFEHOLD_BENCH_KEEP"):
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if only != "shares":
        report.derive(results)
        print(report.render(results))
        print(incremental.render(results.get("incremental", {})))
    print(shares.render(results["shares"]))
    if "databases" in results:
        print(databases.render(results["databases"]))
    if "fsimage" in results:
        print(fsimage.render(results["fsimage"]))
    if "memory" in results:
        print(memory.render(results["memory"]))
    path = SHARE_RESULTS if only == "shares" else RESULTS
    report.write_json(results, path)
    print(f"\nresults written to {path}")
    errors = shares.failed(results["shares"])
    for error in errors:
        print(f"SHARE SECTION FAILURE: {error.splitlines()[0][:300]}")
    return 1 if errors else 0


def _latency_only(workdir: Path) -> int:
    """SAFEHOLD_BENCH_ONLY=latency: the orchestration latency section alone."""
    try:
        lat = _section("orchestration latency (safehold run)", lambda: latency.run(workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(report.render_latency(lat))
    report.write_json(
        {"timestamp": datetime.now(UTC).isoformat(timespec="seconds"), "latency": lat},
        LATENCY_RESULTS,
    )
    print(f"\nresults written to {LATENCY_RESULTS}")
    return 0 if "post_seconds" in lat else 1


def _shares(workdir: Path) -> dict[str, Any]:
    if _env_flag("SAFEHOLD_BENCH_SKIP_SHARES"):
        print("* share section skipped (SAFEHOLD_BENCH_SKIP_SHARES=1)")
        return {"skipped": "skipped: SAFEHOLD_BENCH_SKIP_SHARES=1"}
    return _section(
        "share backups (safehold, restic, borg on directory trees)", lambda: shares.run(workdir)
    )


def run_shares_only(workdir: Path) -> dict[str, Any]:
    """Only the share section (SAFEHOLD_BENCH_ONLY=shares)."""
    return {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "shares": _shares(workdir),
    }


def run(size: int, workdir: Path) -> dict[str, Any]:
    """Every section in order; returns the raw results."""
    load_start = os.getloadavg()[0]
    if load_start > 0.5:
        print(f"  warning: 1-min load average is {load_start:.2f}: other work skews the numbers")
    print(f"* generating {size // data.MIB} MiB image (seed {data.SEED}) ...", flush=True)
    start = time.perf_counter()
    image = data.generate(workdir / "volume.img", size)
    print(f"  done in {time.perf_counter() - start:.1f} s", flush=True)
    cache_drop = data.drop_caches()
    if not cache_drop:
        print("  cannot drop the page cache (not root?): timings may be warm-cache")

    hw = _section("hardware limits", lambda: hardware.measure(image.path))
    tools = {
        "safehold": _section("safehold backup + restore", lambda: _safehold(image, workdir)),
        "restic": _section("restic backup + restore", lambda: peers.restic(image, workdir)),
        "borg": _section("borg backup + restore", lambda: peers.borg(image, workdir)),
    }
    incr = _section(
        "incremental after a ~2 % change (safehold, restic)",
        lambda: incremental.run(image, workdir),
    )
    if _env_flag("SAFEHOLD_BENCH_SKIP_SERVICE"):
        lat: dict[str, Any] = {"skipped": "skipped: SAFEHOLD_BENCH_SKIP_SERVICE=1"}
        print("* orchestration latency skipped (SAFEHOLD_BENCH_SKIP_SERVICE=1)")
    else:
        lat = _section("orchestration latency (safehold run)", lambda: latency.run(workdir))
    share_results = _shares(workdir)
    db_results = databases.section(workdir)
    fsimage_results = fsimage.section(workdir)
    memory_results = memory.section(workdir)
    return {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "cache_drop": cache_drop,
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg()[0],
        "image": {
            "size": image.size,
            "seed": image.seed,
            "regions": image.regions,
            "bytes_by_kind": image.bytes_by_kind,
            "fractions": image.fractions(),
            "allocated": image.allocated,
        },
        "hardware": hw,
        "tools": tools,
        "latency": lat,
        "incremental": incr,
        "shares": share_results,
        "databases": db_results,
        "fsimage": fsimage_results,
        "memory": memory_results,
        "notes": NOTES,
    }


if __name__ == "__main__":
    sys.exit(main())
