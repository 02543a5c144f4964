"""restic and borg on the same image: init, full backup, full restore, repository size."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.bench import data

RESTIC_PASSWORD = "safehold-bench"


class PeerError(RuntimeError):
    """A peer tool is missing or one of its commands failed."""


def ensure_tool(binary: str, package: str) -> str:
    """The tool's path, installing the Debian package with apt-get when it is missing."""
    found = shutil.which(binary)
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        raise PeerError(f"{binary} not installed and apt-get is not available")
    print(f"  {binary} missing: apt-get install -y {package} ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "-qq", package]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run([apt, "update", "-qq"], env=env, capture_output=True, check=False)
        proc = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise PeerError(f"apt-get install {package} failed: {_tail(proc.stderr)}")
    found = shutil.which(binary)
    if not found:
        raise PeerError(f"{binary} still missing after apt-get install {package}")
    print(f"  installed {package} with apt-get", flush=True)
    return found


def _tail(text: str, lines: int = 8) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


def _run(argv: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> str:
    proc = subprocess.run(list(argv), env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PeerError(f"{' '.join(argv[:3])} ... exited {proc.returncode}: {_tail(proc.stderr)}")
    return proc.stdout


def _timed(argv: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, bool]:
    """Drop caches, run, return (seconds, whether the cache drop worked)."""
    cold = data.drop_caches()
    start = time.perf_counter()
    _run(argv, env, cwd)
    return time.perf_counter() - start, cold


def _help(binary: str, *sub: str) -> str:
    proc = subprocess.run([binary, *sub, "--help"], capture_output=True, text=True, check=False)
    return proc.stdout + proc.stderr


def _finish(result: dict[str, Any], image: data.Image, restored: Path, repo: Path) -> None:
    result["repo_bytes"] = data.tree_bytes(repo)
    result["stored_bytes"] = result["repo_bytes"]
    result["identical"] = data.same_content(image.path, restored)
    result["restored_allocated"] = data.allocated(restored)
    restored.unlink()


def restic(image: data.Image, workdir: Path) -> dict[str, Any]:
    """restic init / backup / restore latest on a local repository."""
    binary = ensure_tool("restic", "restic")
    repo, target = workdir / "restic-repo", workdir / "restic-restore"
    env = {
        **os.environ,
        "RESTIC_REPOSITORY": str(repo),
        "RESTIC_CACHE_DIR": str(workdir / "restic-cache"),
        "RESTIC_PROGRESS_FPS": "0.1",
    }
    common: list[str] = ["--quiet"]
    init_help = _help(binary, "init")
    if "--insecure-no-password" in init_help:
        common.append("--insecure-no-password")
        password = "none (--insecure-no-password; data still encrypted)"
    else:
        env["RESTIC_PASSWORD"] = RESTIC_PASSWORD
        password = "fixed password (encryption always on)"
    init = [binary, "init", *common]
    if "--repository-version" in init_help:
        init += ["--repository-version", "2"]  # compressed format
    _run(init, env)
    backup_s, cold_b = _timed([binary, "backup", *common, "--host", "bench", str(image.path)], env)
    restore = [binary, "restore", "latest", *common, "--target", str(target)]
    sparse = "--sparse" in _help(binary, "restore")
    if sparse:
        restore.append("--sparse")
    restore_s, cold_r = _timed(restore, env)
    version = _run([binary, "version"], env).strip()
    result: dict[str, Any] = {
        "tool": "restic",
        "version": version,
        "settings": f"repo v2, compression auto (zstd), AES-256 + Poly1305, {password}, "
        f"restore {'--sparse' if sparse else 'without --sparse (unsupported)'}",
        "backup_seconds": backup_s,
        "restore_seconds": restore_s,
        "cold_cache": cold_b and cold_r,
    }
    _finish(result, image, target / image.path.relative_to("/"), repo)
    return result


def borg(image: data.Image, workdir: Path) -> dict[str, Any]:
    """borg init --encryption=none / create --compression zstd,3 / extract."""
    binary = ensure_tool("borg", "borgbackup")
    repo, target = workdir / "borg-repo", workdir / "borg-restore"
    target.mkdir()
    env = {
        **os.environ,
        "BORG_BASE_DIR": str(workdir / "borg-home"),
        "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
        "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
    }
    _run([binary, "init", "--encryption=none", str(repo)], env)
    backup_s, cold_b = _timed(
        [binary, "create", "--compression", "zstd,3", f"{repo}::bench", str(image.path)], env
    )
    extract = [binary, "extract"]
    sparse = "--sparse" in _help(binary, "extract")
    if sparse:
        extract.append("--sparse")
    restore_s, cold_r = _timed([*extract, f"{repo}::bench"], env, cwd=target)
    version = _run([binary, "--version"], env).strip()
    result: dict[str, Any] = {
        "tool": "borg",
        "version": version,
        "settings": "--encryption=none, zstd,3, default buzhash chunker, "
        f"extract {'--sparse' if sparse else 'without --sparse'}",
        "backup_seconds": backup_s,
        "restore_seconds": restore_s,
        "cold_cache": cold_b and cold_r,
    }
    _finish(result, image, target / image.path.relative_to("/"), repo)
    return result
