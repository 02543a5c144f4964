"""Reproducible directory trees for the share benchmark, their ~2 % change, and a verify walk.

Two trees, each made from one seeded ``random.Random`` (same seed and size, same bytes):

* ``mixed``: about SAFEHOLD_BENCH_TREE_MIB of files in nested directories: source-code-like
  and prose text, logs, JSON, random binaries, already-compressed files (random bytes named
  .jpg/.gz/.zip/...), real zstd blobs, a few large files (10-50 MB, a quarter of the bytes)
  and many small ones (log-normal sizes), a few symlinks; modes and mtimes vary.
* ``small``: SAFEHOLD_BENCH_SMALL_FILES files of 0.5-8 KiB (log-uniform) in 1,000 leaf
  directories (10 x 10 x 10).

``change`` applies a seeded change to about 2 % of the files (rewrite, append, delete, add,
plus an in-place patch of one large file) and reports the bytes written. ``snapshot`` and
``verify`` compare two trees by type, mode, size and content digest (symlinks: target).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

from tests.bench.data import MIB, TextSource

KIB = 1024
MIXED_SEED = 20240613
SMALL_SEED = 20240614
CHANGE_SEED = 20240615
LARGE_SHARE = 0.25  # of the mixed tree's bytes, in large files
LARGE_MIN, LARGE_MAX = 10 * MIB, 50 * MIB
SMALL_CAP = 8 * MIB  # largest "small" file of the mixed tree
MTIME_BASE_NS = 1_717_000_000 * 10**9  # early June 2024
YEAR_NS = 365 * 86400 * 10**9


@dataclass(frozen=True)
class Kind:
    """One kind of file of the mixed tree: count weight, log-normal size, names, place."""

    name: str
    weight: int
    median: int
    sigma: float
    extensions: tuple[str, ...]
    area: str


KINDS = (
    Kind("code", 45, 4 * KIB, 1.0, (".py", ".c", ".h", ".js", ".go", ".rs", ".sh"), "src"),
    Kind("prose", 8, 4 * KIB, 1.0, (".md", ".txt", ".rst"), "docs"),
    Kind("log", 6, 32 * KIB, 1.2, (".log",), "logs"),
    Kind("json", 14, 8 * KIB, 1.3, (".json",), "data"),
    Kind("binary", 10, 8 * KIB, 1.4, (".bin", ".o", ".so", ".dat"), "build"),
    Kind("compressed", 14, 24 * KIB, 1.5, (".jpg", ".png", ".gz", ".zip", ".mp3"), "media"),
    Kind("zstd", 4, 16 * KIB, 1.2, (".zst",), "cache"),
)
KIND_BY_EXT = {ext: k.name for k in KINDS for ext in k.extensions}
LARGE = (
    ("archive", "archives/vm-image-{}.tar.zst", "compressed"),
    ("database", "data/db/store-{}.sqlite", "database"),
    ("log", "logs/archive/app-{}.log", "log"),
    ("video", "media/video/recording-{}.mp4", "compressed"),
    ("dump", "data/export/dump-{}.json", "json"),
)
KIND_BY_EXT.update({".sqlite": "database", ".mp4": "compressed"})
TEXT_KINDS = {"code", "prose", "log", "json"}


@dataclass
class TreeStats:
    """What a generated tree holds."""

    name: str
    seed: int
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    bytes: int = 0
    bytes_by_kind: dict[str, int] = field(default_factory=dict)
    files_by_kind: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, size: int) -> None:
        self.files += 1
        self.bytes += size
        self.bytes_by_kind[kind] = self.bytes_by_kind.get(kind, 0) + size
        self.files_by_kind[kind] = self.files_by_kind.get(kind, 0) + 1


class Contents:
    """Bytes of each kind, all drawn from one seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.prose = TextSource(rng)
        text = self.prose.take(64 * KIB).decode().split()
        self.words = list(dict.fromkeys(w for w in text if w.isalpha()))
        self.code_lines = [self._code_line() for _ in range(1 << 14)]
        self.log_messages = [
            self.prose.take(rng.randint(20, 120)).decode().replace("\n", " ").strip()
            for _ in range(4096)
        ]
        self.json_records = [self._json_record() for _ in range(2048)]
        self.zstd = zstandard.ZstdCompressor(level=3)

    def _ident(self) -> str:
        return "_".join(self.rng.choices(self.words, k=self.rng.randint(1, 3)))

    def _code_line(self) -> str:
        r = self.rng
        indent = "    " * r.choice((0, 1, 1, 2, 2, 2, 3))
        a, b, f = self._ident(), self._ident(), self._ident()
        n = r.randint(0, 4096)
        return r.choice(
            (
                f"{indent}def {f}({a}, {b}):\n",
                f"{indent}return {a}.{f}({b})\n",
                f"{indent}if {a} is None:\n",
                f"{indent}{a} = {b}.{f}({n})\n",
                f"{indent}# {' '.join(r.choices(self.words, k=r.randint(3, 12)))}\n",
                f"{indent}for {a} in {b}:\n",
                f'{indent}raise ValueError("{a} {b} {n}")\n',
                f"{indent}{a}[{n}] = {b} + {n}\n",
                "\n",
                f"import {a}\n",
                f"class {f.title().replace('_', '')}({a.title().replace('_', '')}):\n",
            )
        )

    def _json_record(self) -> str:
        """A record's fixed fields; id, score and flag are drawn per use (see _json)."""
        r = self.rng
        tags = json.dumps(r.choices(self.words, k=r.randint(0, 5)))
        note = " ".join(r.choices(self.words, k=r.randint(0, 16)))
        return f'"name": "{self._ident()}", "tags": {tags}, "note": "{note}"'

    def _lines(self, pool: list[str], size: int) -> bytes:
        mean = 40
        out = "".join(self.rng.choices(pool, k=size // mean + 8)).encode()
        while len(out) < size:
            out += "".join(self.rng.choices(pool, k=size // mean + 8)).encode()
        return out[:size]

    def _log(self, size: int) -> bytes:
        r = self.rng
        ts = MTIME_BASE_NS // 10**6 - r.randrange(YEAR_NS // 10**6)
        lines: list[str] = []
        total = 0
        levels = ("INFO ", "INFO ", "INFO ", "DEBUG", "WARN ", "ERROR")
        while total < size:
            ts += r.randrange(1, 5000)
            line = (
                f"{ts // 1000}.{ts % 1000:03d} {r.choice(levels)} [worker-{r.randrange(16)}] "
                f"{r.choice(self.log_messages)}\n"
            )
            lines.append(line)
            total += len(line)
        return "".join(lines).encode()[:size]

    def _json(self, size: int) -> bytes:
        r = self.rng
        records = [
            f'{{"id": {r.randrange(1 << 40)}, "score": {r.random() * 100:.3f}, '
            f'"active": {"true" if r.random() < 0.7 else "false"}, {fixed}}}'
            for fixed in r.choices(self.json_records, k=size // 150 + 2)
        ]
        return ("[\n  " + ",\n  ".join(records) + "\n]\n").encode()[:size]

    def _database(self, size: int) -> bytes:
        """4 KiB pages: a third zero, a third text, a third random (like a sparse db)."""
        pages = []
        for _ in range(-(-size // (4 * KIB))):
            pick = self.rng.randrange(3)
            if pick == 0:
                pages.append(bytes(4 * KIB))
            elif pick == 1:
                pages.append(self.prose.take(4 * KIB))
            else:
                pages.append(self.rng.randbytes(4 * KIB))
        return b"".join(pages)[:size]

    def make(self, kind: str, size: int) -> bytes:
        """``size`` bytes of ``kind`` (a zstd blob: about ``size``, it is real zstd)."""
        if kind == "code":
            return self._lines(self.code_lines, size)
        if kind == "prose":
            return self.prose.take(size)
        if kind == "log":
            return self._log(size)
        if kind == "json":
            return self._json(size)
        if kind == "database":
            return self._database(size)
        if kind == "zstd":
            return self.zstd.compress(self.prose.take(size * 3))
        return self.rng.randbytes(size)  # binary, compressed


def _write(path: Path, content: bytes, mode: int, mtime_ns: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def _mtime(rng: random.Random) -> int:
    return MTIME_BASE_NS - rng.randrange(YEAR_NS)


def _file_mode(rng: random.Random, kind: str, ext: str) -> int:
    roll = rng.random()
    if roll < 0.02:
        return 0o600
    if ext in (".sh", ".so") or (kind == "binary" and roll < 0.4):
        return 0o755
    return 0o640 if roll < 0.1 else 0o644


def _dir_mode(rng: random.Random) -> int:
    roll = rng.random()
    return 0o700 if roll < 0.01 else 0o750 if roll < 0.06 else 0o755


class _Dirs:
    """Directories of the mixed tree, made on demand: nested, per area, with locality."""

    def __init__(self, root: Path, rng: random.Random, words: list[str], stats: TreeStats):
        self.root, self.rng, self.words, self.stats = root, rng, words, stats
        self.by_area: dict[str, list[Path]] = {}

    def make(self, path: Path) -> Path:
        if path.exists():
            return path
        if path.parent != self.root:
            self.make(path.parent)
        path.mkdir(mode=0o700)
        os.chmod(path, _dir_mode(self.rng))
        self.stats.dirs += 1
        return path

    def pick(self, area: str) -> Path:
        """A directory of ``area``: mostly a recent one, sometimes a new (nested) one."""
        dirs = self.by_area.setdefault(area, [])
        r = self.rng
        if not dirs or r.random() < 1 / 15:
            parent = r.choice(dirs) if dirs and r.random() < 0.8 else self.root / area
            depth = len(parent.relative_to(self.root).parts)
            if depth >= 6:
                parent = parent.parent
            new = self.make(parent / f"{r.choice(self.words)}-{len(dirs)}")
            dirs.append(new)
            return new
        return r.choice(dirs[-20:]) if r.random() < 0.7 else r.choice(dirs)


def _lognormal(rng: random.Random, median: int, sigma: float, cap: int) -> int:
    return max(0, min(cap, int(rng.lognormvariate(math.log(median), sigma))))


def generate_mixed(root: Path, total: int, seed: int = MIXED_SEED) -> TreeStats:
    """The mixed tree under ``root`` (created if missing): about ``total`` bytes."""
    rng = random.Random(seed)
    contents = Contents(random.Random(seed + 1))
    stats = TreeStats("mixed", seed)
    root.mkdir(parents=True, exist_ok=True)
    dirs = _Dirs(root, rng, contents.words, stats)
    large_budget = int(total * LARGE_SHARE)
    while large_budget - stats.bytes >= LARGE_MIN:
        _label, pattern, kind = LARGE[stats.files % len(LARGE)]
        size = min(rng.randint(LARGE_MIN, LARGE_MAX), large_budget - stats.bytes)
        path = root / pattern.format(stats.files)
        dirs.make(path.parent)
        content = contents.make(kind, size)
        _write(path, content, 0o644, _mtime(rng))
        stats.add(kind, len(content))
    weights = [k.weight for k in KINDS]
    used: set[Path] = set()
    while stats.bytes < total:
        spec = rng.choices(KINDS, weights=weights)[0]
        size = _lognormal(rng, spec.median, spec.sigma, SMALL_CAP)
        size = min(size, max(1, total - stats.bytes))
        ext = rng.choice(spec.extensions)
        folder = dirs.pick(spec.area)
        path = folder / f"{rng.choice(contents.words)}{ext}"
        if path in used:
            path = folder / f"{rng.choice(contents.words)}-{stats.files}{ext}"
        used.add(path)
        content = contents.make(spec.name, size)
        _write(path, content, _file_mode(rng, spec.name, ext), _mtime(rng))
        stats.add(spec.name, len(content))
    _add_symlinks(root, rng, sorted(used), stats)
    return stats


def _add_symlinks(root: Path, rng: random.Random, files: list[Path], stats: TreeStats) -> None:
    """A few relative symlinks next to their targets (like ``latest.log``), one dangling."""
    for i, target in enumerate(rng.sample(files, min(20, len(files)))):
        link = target.parent / f"Link-{i}{target.suffix}"
        if not link.exists():
            os.symlink(target.name, link)
            stats.symlinks += 1
    os.symlink("does/not/exist", root / "dangling-link")
    stats.symlinks += 1


def generate_small(root: Path, count: int, seed: int = SMALL_SEED) -> TreeStats:
    """``count`` files of 0.5-8 KiB in 10 x 10 x 10 directories under ``root``."""
    rng = random.Random(seed)
    contents = Contents(random.Random(seed + 1))
    stats = TreeStats("small", seed)
    root.mkdir(parents=True, exist_ok=True)
    leaves = []
    for a in range(10):
        for b in range(10):
            for c in range(10):
                leaves.append(root / f"d{a}" / f"e{b}" / f"f{c}")
    for leaf in leaves:
        leaf.mkdir(parents=True, exist_ok=True)
    stats.dirs = len(leaves) + 110
    kinds = (("code", ".py"), ("prose", ".txt"), ("json", ".json"), ("binary", ".bin"))
    for i in range(count):
        kind, ext = rng.choices(kinds, weights=(35, 15, 25, 25))[0]
        size = int(512 * 16 ** rng.random())
        content = contents.make(kind, size)
        path = leaves[i % len(leaves)] / f"{rng.choice(contents.words)}-{i:06d}{ext}"
        _write(path, content, _file_mode(rng, kind, ext), _mtime(rng))
        stats.add(kind, len(content))
    return stats


def regular_files(root: Path) -> list[Path]:
    """Every regular file under ``root``, sorted (deterministic order)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            path = Path(dirpath, name)
            if stat.S_ISREG(os.lstat(path).st_mode):
                found.append(path)
    return sorted(found)


def apparent_bytes(root: Path) -> int:
    """Sum of the sizes of the regular files under ``root``."""
    return sum(os.lstat(p).st_size for p in regular_files(root))


def change(root: Path, fraction: float = 0.02, seed: int = CHANGE_SEED) -> dict[str, Any]:
    """Change about ``fraction`` of the files: 40 % of them rewritten (files over 4 MiB
    patched in place instead: 4 x 16 KiB), 35 % appended to, 10 % deleted, and new files
    (sized like random existing ones) for 15 %; plus an in-place patch of one large file.
    Returns counts and bytes written (``changed_bytes``) and removed."""
    rng = random.Random(seed)
    contents = Contents(random.Random(seed + 1))
    files = regular_files(root)
    n = min(len(files), max(5, round(len(files) * fraction)))
    picked = rng.sample(files, n)
    rewrite, append = picked[: n * 40 // 100], picked[n * 40 // 100 : n * 75 // 100]
    delete = picked[n * 75 // 100 : n * 85 // 100]
    added = [
        (rng.choice(files), min(MIB, os.lstat(rng.choice(files)).st_size))
        for _ in range(n - n * 85 // 100)
    ]
    gone = set(delete)
    large = [p for p in files if p not in gone and os.lstat(p).st_size > 4 * MIB]
    report = dict.fromkeys(("rewritten", "patched", "appended", "deleted", "added"), 0)
    written = removed = 0
    for path in rewrite:
        big = os.lstat(path).st_size > 4 * MIB
        written += _patch(path, rng) if big else _rewrite(path, rng, contents)
        report["patched" if big else "rewritten"] += 1
    for path in append:
        written += _append(path, rng, contents)
        report["appended"] += 1
    for path in delete:
        removed += os.lstat(path).st_size
        path.unlink()
        report["deleted"] += 1
    for i, (beside, size) in enumerate(added):
        written += _add(beside, i, size, contents)
        report["added"] += 1
    if large:
        written += _patch(rng.choice(large), rng)
        report["patched"] += 1
    return {
        **report,
        "changed_bytes": written,
        "deleted_bytes": removed,
        "files_before": len(files),
        "files_changed": n + (1 if large else 0),
    }


def _kind_of(path: Path) -> str:
    return KIND_BY_EXT.get(path.suffix, "binary")


def _rewrite(path: Path, rng: random.Random, contents: Contents) -> int:
    size = max(1, int(os.lstat(path).st_size * rng.uniform(0.5, 1.5)))
    content = contents.make(_kind_of(path), size)
    with open(path, "r+b") as f:
        f.write(content)
        f.truncate()
    return len(content)


def _append(path: Path, rng: random.Random, contents: Contents) -> int:
    kind = _kind_of(path)
    size = rng.randint(256, max(256, min(32 * KIB, os.lstat(path).st_size)))
    content = contents.make("log" if kind in TEXT_KINDS else "binary", size)
    with open(path, "ab") as f:
        f.write(content)
    return len(content)


def _patch(path: Path, rng: random.Random) -> int:
    size = os.lstat(path).st_size
    with open(path, "r+b") as f:
        for _ in range(4):
            os.pwrite(f.fileno(), rng.randbytes(16 * KIB), rng.randrange(size - 16 * KIB))
    return 4 * 16 * KIB


def _add(beside: Path, i: int, size: int, contents: Contents) -> int:
    """A new file of ``size`` bytes next to ``beside`` (its directory stays even if
    ``beside`` was deleted); the capital letter keeps it apart from generated names."""
    content = contents.make(_kind_of(beside), size)
    path = beside.parent / f"Added-{i}{beside.suffix}"
    _write(path, content, 0o644, MTIME_BASE_NS + i * 10**9)
    return len(content)


Snapshot = dict[bytes, tuple[int, int, int, str]]


class TreeMismatch(AssertionError):
    """A restored tree differs from its source."""


def _digest(path: bytes) -> str:
    with open(path, "rb", buffering=0) as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _entries(root: bytes) -> Iterator[bytes]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            yield os.path.join(dirpath, name)


def snapshot(root: Path) -> Snapshot:
    """Every entry under ``root`` (not the root): (type, mode, size, digest or link target)."""
    r = os.fsencode(root)
    found: Snapshot = {}
    for path in _entries(r):
        st = os.lstat(path)
        kind, mode = stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode)
        if stat.S_ISREG(st.st_mode):
            found[os.path.relpath(path, r)] = (kind, mode, st.st_size, _digest(path))
        elif stat.S_ISLNK(st.st_mode):
            found[os.path.relpath(path, r)] = (kind, 0, 0, os.fsdecode(os.readlink(path)))
        else:
            found[os.path.relpath(path, r)] = (kind, mode, 0, "")
    return found


def differences(expected: Snapshot, actual: Snapshot, limit: int = 8) -> list[str]:
    """Human-readable differences (at most ``limit``), empty when equal."""
    out = []
    for path in sorted(expected.keys() | actual.keys()):
        want, got = expected.get(path), actual.get(path)
        if want == got:
            continue
        name = os.fsdecode(path)
        if got is None:
            out.append(f"missing {name}")
        elif want is None:
            out.append(f"extra {name}")
        else:
            out.append(f"{name}: want {_show(want)}, got {_show(got)}")
        if len(out) >= limit:
            out.append("...")
            break
    return out


def _show(entry: tuple[int, int, int, str]) -> str:
    kind, mode, size, digest = entry
    return f"type {kind:o} mode {mode:o} size {size} {digest[:12]}"


def verify(expected: Snapshot, restored: Path) -> int:
    """Raise TreeMismatch unless ``restored`` matches; returns the number of entries."""
    diff = differences(expected, snapshot(restored))
    if diff:
        raise TreeMismatch(f"restored tree {restored} differs: " + "; ".join(diff))
    return len(expected)
