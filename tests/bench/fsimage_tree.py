"""The ext4 image of the fsimage section: built once from a seeded tree and cached; its ~2 %
change made through the file system.

``build`` generates the "mixed" tree of tests/bench/trees.py (code, prose, logs, JSON,
random binaries, already-compressed blobs, real zstd files, a few 10-50 MB files and tens
of thousands of small ones; same seed, same bytes), then ``mkfs.ext4 -d`` makes the image
from it with a fixed UUID, hash seed and clock (E2FSPROGS_FAKE_TIME). File contents, names
and modes are reproducible; inode ctimes come from the build (mkfs copies them from the
source tree), so two builds are not byte-identical, which is why the image is cached: under
``SAFEHOLD_BENCH_CACHE`` (default ~/.cache/safehold-bench) in a directory keyed by the
generator's parameters, BUILD_VERSION and the text of tests/bench/trees.py and data.py. The tree
itself is deleted after the build (SAFEHOLD_BENCH_FSIMAGE_KEEP_TREE=1 keeps it beside the image);
a manifest of its files (path, size, mode) stays for the debugfs fallback.

``change`` loop-mounts the image (``mount -o loop,noatime``) and applies ``trees.change``
(about 2 % of the files: rewritten, appended to, deleted, added, one large file patched);
where mounting is not permitted it falls back to ``debugfs -w``: about 2 % of the files
(up to 4 MiB) are rewritten (``rm`` + ``write``) or appended to (``dump``, append,
``rm`` + ``write``). Either way it reports the bytes of file data written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench import data, trees

KIB = 1024
GIB = 1 << 30
BLOCK_SIZE = 4096
BUILD_VERSION = 1  # bump when the build below changes what it makes
FS_UUID = "5afe4010-0000-4000-8000-00000000f5a1"
HASH_SEED = "5afe4010-0000-4000-8000-00000000f5a2"
LABEL = "safehold-bench"
FAKE_TIME = trees.MTIME_BASE_NS // 10**9
CHANGE_FRACTION = 0.02
DEBUGFS_MAX_FILE = 4 * data.MIB
HERE = Path(__file__).resolve().parent


class ImageError(RuntimeError):
    """A file-system tool failed (the message names it and quotes its stderr)."""


def tool(name: str) -> str:
    """Path of an e2fsprogs / util-linux tool (they live in /usr/sbin, often not on PATH)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if found is None:
        raise ImageError(f"{name} not found (install e2fsprogs / mount)")
    return found


def _run(argv: list[str], env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
        raise ImageError(f"{' '.join(argv[:4])} ... exited {proc.returncode}: {tail}")
    return proc.stdout


def cache_root() -> Path:
    """Where built images are kept between runs."""
    configured = os.environ.get("SAFEHOLD_BENCH_CACHE", "").strip()
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "safehold-bench"


def params(tree_bytes: int, image_bytes: int) -> dict[str, Any]:
    """Everything the built image depends on; its hash names the cache entry."""
    sources = hashlib.sha256()
    for name in ("trees.py", "data.py"):
        sources.update((HERE / name).read_bytes())
    return {
        "build_version": BUILD_VERSION,
        "tree": "mixed",
        "tree_seed": trees.MIXED_SEED,
        "tree_bytes": tree_bytes,
        "image_bytes": image_bytes,
        "block_size": BLOCK_SIZE,
        "fs_uuid": FS_UUID,
        "hash_seed": HASH_SEED,
        "fake_time": FAKE_TIME,
        "generator_sources_sha256": sources.hexdigest(),
    }


@dataclass
class Built:
    """A cached image and what is known about it."""

    path: Path
    manifest: Path
    meta: dict[str, Any]


def fs_stats(image: Path) -> dict[str, int]:
    """Block and inode usage from the superblock (``dumpe2fs -h``)."""
    out = _run([tool("dumpe2fs"), "-h", str(image)])
    fields: dict[str, int] = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key in ("Block count", "Free blocks", "Block size", "Inode count", "Free inodes"):
            fields[key] = int(value.strip())
    size = fields["Block size"]
    return {
        "block_size": size,
        "blocks": fields["Block count"],
        "used_bytes": (fields["Block count"] - fields["Free blocks"]) * size,
        "inodes_used": fields["Inode count"] - fields["Free inodes"],
    }


def fsck(image: Path) -> dict[str, Any]:
    """``e2fsck -fn``: read-only full check; clean means exit status 0."""
    proc = subprocess.run(
        [tool("e2fsck"), "-fn", str(image)], capture_output=True, text=True, check=False
    )
    lines = (proc.stderr + proc.stdout).strip().splitlines()
    return {"exit_status": proc.returncode, "clean": proc.returncode == 0, "summary": lines[-1:]}


def _settle_times(root: Path) -> None:
    """Fixed mtimes for directories and symlinks (files already have seeded ones)."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                os.utime(path, ns=(trees.MTIME_BASE_NS,) * 2, follow_symlinks=False)
        os.utime(dirpath, ns=(trees.MTIME_BASE_NS,) * 2)


def _manifest(root: Path) -> list[tuple[str, int, int]]:
    """(path inside the image, size, mode) of every regular file, sorted."""
    out = []
    for path in trees.regular_files(root):
        st = os.lstat(path)
        out.append(("/" + str(path.relative_to(root)), st.st_size, stat.S_IMODE(st.st_mode)))
    return out


def build(tree_bytes: int, image_bytes: int) -> Built:
    """The cached image for these parameters, built first when missing."""
    p = params(tree_bytes, image_bytes)
    key = hashlib.sha256(json.dumps(p, sort_keys=True).encode()).hexdigest()[:16]
    root = cache_root()
    final = root / f"fsimage-{key}"
    if (final / "meta.json").exists():
        meta = json.loads((final / "meta.json").read_text())
        meta["cached"] = True
        print(f"  image cached in {final}", flush=True)
        return Built(final / "image.img", final / "manifest.json", meta)
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".fsimage-{key}-", dir=root))
    try:
        meta = _build(work, p, tree_bytes, image_bytes)
        meta["cache_dir"] = str(final)
        (work / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        try:
            work.rename(final)
        except OSError:  # a concurrent run built it first
            if not (final / "meta.json").exists():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta["cached"] = False
    return Built(final / "image.img", final / "manifest.json", meta)


def _build(work: Path, p: dict[str, Any], tree_bytes: int, image_bytes: int) -> dict[str, Any]:
    tree, image = work / "tree", work / "image.img"
    print(f"  generating the {tree_bytes / data.MIB:.0f} MiB tree in {tree} ...", flush=True)
    start = time.perf_counter()
    stats = trees.generate_mixed(tree, tree_bytes)
    _settle_times(tree)
    generated = time.perf_counter() - start
    manifest = _manifest(tree)
    (work / "manifest.json").write_text(json.dumps(manifest))
    print(f"  {stats.files:,} files in {generated:.1f} s; mkfs.ext4 -d ...", flush=True)
    start = time.perf_counter()
    argv = [
        tool("mkfs.ext4"),
        "-q",
        "-F",
        "-d",
        str(tree),
        "-U",
        FS_UUID,
        "-E",
        f"root_owner=0:0,hash_seed={HASH_SEED}",
        "-L",
        LABEL,
        "-b",
        str(BLOCK_SIZE),
        str(image),
        f"{image_bytes // KIB}k",
    ]
    _run(argv, env={**os.environ, "E2FSPROGS_FAKE_TIME": str(FAKE_TIME)})
    mkfs = time.perf_counter() - start
    check = fsck(image)
    if not check["clean"]:
        raise ImageError(f"fresh image fails e2fsck -fn: {check['summary']}")
    if os.environ.get("SAFEHOLD_BENCH_FSIMAGE_KEEP_TREE", "").strip() in ("1", "true", "yes"):
        kept = "tree kept beside the image"
    else:
        shutil.rmtree(tree)
        kept = "tree deleted after the build (manifest.json lists its files)"
    return {
        "params": p,
        "mkfs_argv": [os.path.basename(argv[0]), *argv[1:-2], "image.img", argv[-1]],
        "tree": {**vars(stats), "generate_seconds": generated, "kept": kept},
        "mkfs_seconds": mkfs,
        "fs": fs_stats(image),
        "allocated_bytes": data.allocated(image),
        "image_bytes": os.path.getsize(image),
        "sha256": data.file_digest(image),
        "fsck": check,
    }


def image_diff(before: Path, after: Path, chunk: int = data.MIB) -> dict[str, int]:
    """What changed at the image level: differing 4 KiB blocks and distinct 1 MiB blocks."""
    pages = chunks = 0
    with open(before, "rb", buffering=0) as a, open(after, "rb", buffering=0) as b:
        while True:
            old, new = a.read(chunk), b.read(chunk)
            if not old and not new:
                break
            if old != new:
                chunks += 1
                pages += sum(
                    old[i : i + BLOCK_SIZE] != new[i : i + BLOCK_SIZE]
                    for i in range(0, max(len(old), len(new)), BLOCK_SIZE)
                )
    return {
        "fs_blocks_changed": pages,
        "fs_block_bytes_changed": pages * BLOCK_SIZE,
        "mib_blocks_changed": chunks,
        "mib_block_bytes_changed": chunks * chunk,
    }


# --- the change ---------------------------------------------------------------------------


@contextlib.contextmanager
def mounted(image: Path, mountpoint: Path) -> Iterator[Path]:
    """``mount -o loop,noatime``; unmounted (and the loop device released) on exit."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    _run([tool("mount"), "-o", "loop,noatime", str(image), str(mountpoint)])
    try:
        yield mountpoint
    finally:
        umount = tool("umount")
        for attempt in range(10):
            subprocess.run(["sync"], check=False)
            if subprocess.run([umount, str(mountpoint)], capture_output=True).returncode == 0:
                break
            time.sleep(0.5 * (attempt + 1))
        else:
            subprocess.run([umount, "-l", str(mountpoint)], check=False)
        with contextlib.suppress(OSError):
            mountpoint.rmdir()


def change(image: Path, manifest: Path, workdir: Path) -> dict[str, Any]:
    """Change ~2 % of the files through the file system: loop mount, else debugfs -w."""
    forced = os.environ.get("SAFEHOLD_BENCH_FSIMAGE_CHANGE", "").strip()
    mount_error = "debugfs forced (SAFEHOLD_BENCH_FSIMAGE_CHANGE=debugfs)"
    if forced != "debugfs":
        try:
            with mounted(image, workdir / "fsimage-mnt") as root:
                start = time.perf_counter()
                result = trees.change(root, CHANGE_FRACTION)
                result["apparent_bytes_after"] = trees.apparent_bytes(root)
                seconds = time.perf_counter() - start
            result["method"] = "loop mount (mount -o loop,noatime) + tests/bench/trees.change"
            result["seconds"] = seconds
            return result
        except ImageError as exc:
            mount_error = str(exc)
            print(f"  loop mount not possible ({exc}); falling back to debugfs -w", flush=True)
    result = change_debugfs(image, manifest, workdir)
    result["mount_error"] = mount_error
    return result


def change_debugfs(image: Path, manifest: Path, workdir: Path) -> dict[str, Any]:
    """Rewrite half and append to half of ~2 % of the files (those up to 4 MiB) with
    ``debugfs -w``: the new contents are staged in a host directory, then one debugfs
    session replaces each file (``rm`` + ``write``, mode restored with ``sif``)."""
    start = time.perf_counter()
    files = [(str(p), int(s), int(m)) for p, s, m in json.loads(manifest.read_text())]
    rng = random.Random(trees.CHANGE_SEED)
    contents = trees.Contents(random.Random(trees.CHANGE_SEED + 1))
    n = min(len(files), max(5, round(len(files) * CHANGE_FRACTION)))
    picked = rng.sample([f for f in files if f[1] <= DEBUGFS_MAX_FILE], n)
    rewrite, append = picked[: n // 2], picked[n // 2 :]
    staging = workdir / "fsimage-debugfs"
    staging.mkdir(parents=True, exist_ok=True)
    debugfs = tool("debugfs")
    try:
        dumps = [f"dump {path} {staging / f'a{i}'}" for i, (path, _s, _m) in enumerate(append)]
        _debugfs(debugfs, image, dumps, write=False, staging=staging)
        written = 0
        commands: list[str] = []
        for i, (path, size, mode) in enumerate(rewrite):
            host = staging / f"r{i}"
            new = max(1, int(size * rng.uniform(0.5, 1.5)))
            content = contents.make(trees.KIND_BY_EXT.get(Path(path).suffix, "binary"), new)
            host.write_bytes(content)
            written += len(content)
            commands += _replace(path, host, mode)
        for i, (path, size, mode) in enumerate(append):
            host = staging / f"a{i}"
            kind = trees.KIND_BY_EXT.get(Path(path).suffix, "binary")
            extra = rng.randint(256, max(256, min(32 * KIB, size)))
            content = contents.make("log" if kind in trees.TEXT_KINDS else "binary", extra)
            with open(host, "ab") as f:
                f.write(content)
            written += len(content)
            commands += _replace(path, host, mode)
        _debugfs(debugfs, image, commands, write=True, staging=staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {
        "method": "debugfs -w (rm + write of each changed file)",
        "rewritten": len(rewrite),
        "appended": len(append),
        "patched": 0,
        "deleted": 0,
        "added": 0,
        "changed_bytes": written,
        "deleted_bytes": 0,
        "files_before": len(files),
        "files_changed": n,
        "seconds": time.perf_counter() - start,
    }


def _replace(path: str, host: Path, mode: int) -> list[str]:
    directory, _, name = path.rpartition("/")
    return [
        f"cd {directory or '/'}",
        f"rm {name}",
        f"write {host} {name}",
        f"sif {name} mode 0{stat.S_IFREG | mode:o}",
    ]


def _debugfs(binary: str, image: Path, commands: list[str], *, write: bool, staging: Path) -> None:
    """Run ``commands`` in one debugfs session; any error line fails the change."""
    if not commands:
        return
    script = staging / ("write.cmd" if write else "read.cmd")
    script.write_text("\n".join(commands) + "\n")
    argv = [binary, *(["-w"] if write else []), "-f", str(script), str(image)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    errors = [
        line
        for line in proc.stderr.splitlines()
        if line.strip() and not line.startswith("debugfs ") and "Allocated inode" not in line
    ]
    if proc.returncode != 0 or errors:
        raise ImageError(f"debugfs {'-w ' if write else ''}failed: {' | '.join(errors[:6])}")
