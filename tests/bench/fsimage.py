"""A real file system image: Safehold's Cinder API beside restic and borg on one ext4 image.

The image (tests/bench/fsimage_tree.py): SAFEHOLD_BENCH_FSIMAGE_GIB (default 2) GiB of
ext4 holding a seeded "mixed" tree of SAFEHOLD_BENCH_FSIMAGE_TREE_MIB (default 900) MiB in
tens of thousands of files, built once and cached. In a running Safehold
(``tests.live.running``), through the Cinder API as the admin of PROJECT:

  full         a new volume of that size, the image copied into its file (safehold:path,
               ``cp --sparse=always``, untimed); a full backup; restic and borg back up the
               same file
  change       ~2 % of the files changed through the file system (loop mount, else
               ``debugfs -w``); the bytes of file data written are recorded
  incremental  an incremental backup (Cinder ``incremental: true``); restic and borg again
  restore      the incremental into a new volume, verified: sha256 equal to the changed
               image and ``e2fsck -fn`` clean; restic ``restore latest`` and borg
               ``extract`` of their last snapshot, verified by sha256
  latency      tests/bench/latency.measure on the same service (SAFEHOLD_BENCH_FSIMAGE_
               LATENCY_ROUNDS, default 50: volume creations, then full backups of 1 MiB)

Safehold is timed from the API call until the backup is ``available`` (restore: the new
volume ``available``), polled every 0.1 s; restic and borg by their command's wall clock.
The page cache is dropped before every timed step. Stored bytes: what the step added to
Safehold's store (<data_dir>/backups) or to the peer's repository. Prefect's record of
each Safehold flow run (its start and end) splits the end-to-end time into the wait for
the flow body, the body, and the rest. Memory of the flow-run process: the service's
process tree is walked every 0.1 s (/proc/<pid>/task/*/children); of each process that
appeared during the step VmHWM, VmRSS, RssAnon are read from /proc/<pid>/status and USS
(Private_Clean + Private_Dirty) and Pss from /proc/<pid>/smaps_rollup; the flow-run process
is the new child of the runner's fork server, whose own RSS is read beside it (VmHWM
includes the pages the run still shares with it). Peers: the same sampling of the command.

Results: bench-results/fsimage.json. Environment: the two sizes above,
SAFEHOLD_BENCH_CACHE (image cache, default ~/.cache/safehold-bench),
SAFEHOLD_BENCH_FSIMAGE_CHANGE=debugfs (force the debugfs fallback),
SAFEHOLD_BENCH_SKIP_FSIMAGE=1 (leave the section out of a full run).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.bench import (
    data,
    fsimage_tree,
    hardware,
    incremental,
    latency,
    peers,
    report,
    sections,
    shares,
)

PROJECT = "bench0000000000000000000000000004"
RESULTS = Path(__file__).resolve().parents[2] / "bench-results" / "fsimage.json"
GIB = 1 << 30
MIB = data.MIB
POLL = 0.1
SAMPLE = 0.1
TIMEOUT = 3 * 3600.0
STEPS = ("full", "incremental", "restore")
TOOLS = ("safehold", "restic", "borg")
PEERS = ("restic", "borg")

NOTES = [
    "fsimage section: one ext4 image (a seeded tree of tens of thousands of files), backed "
    "up by all three tools from the same file; Safehold through the Cinder API (call until "
    "'available', orchestration included, polled every 0.1 s), restic and borg by command "
    "wall clock; the page cache is dropped before each timed step",
    "MB/s (10^6 bytes/s) of the image's apparent size and of the file system's used bytes "
    "(dumpe2fs: blocks in use x block size; after the change for incremental and restore)",
    "speed ratio = peer seconds / Safehold seconds (>1: Safehold faster); stored = bytes the "
    "step added to Safehold's store or the peer's repository; stored/chg = incremental "
    "stored bytes over the bytes of file data the change wrote",
    "restic: repo v2, compression auto, AES-256 + Poly1305; borg: --encryption=none, "
    "zstd,3; Safehold: service defaults (1 MiB blocks, zstd 1, holes skipped)",
    "memory of Safehold's flow-run process (forked by the runner's fork server; restic/borg: "
    "the command's process), from /proc every 0.1 s: VmHWM = the kernel's exact peak of "
    "resident pages, including those still shared copy-on-write with the fork server "
    "(Python + Prefect + flows, which the run does not add to the host); USS = peak of "
    "private pages (smaps_rollup Private_Clean + Private_Dirty: what the run adds, "
    "imported pages it wrote to included); PSS = peak of private + its share of shared "
    "pages; USS and PSS are sampled, so a spike shorter than 0.1 s can be missed; "
    "'<= N' = VmHWM - the smallest shared size seen, a bound on the private peak that "
    "needs no sample at the peak; the fork server's RSS is its own, read beside; 'no "
    "longer shared' = fork server RSS - the run's shared pages at its USS peak: inherited "
    "pages the run copied on write (then counted in its USS: e.g. pages of objects whose "
    "reference counts or GC headers it touched) or released",
    "2 cores shared with other engineers' test runs: absolute times are noisy; the ratios "
    "come from one run, step after step on the same machine state",
]


class BenchError(RuntimeError):
    """A step failed (the message says which and why)."""


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


# --- peak RSS of the service's new processes -----------------------------------------------


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    return out


def descendants(root: int) -> set[int]:
    """Every process below ``root`` (not ``root`` itself)."""
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in _children(todo.pop()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


STATUS_KEYS = ("VmHWM", "VmRSS", "RssAnon")
TIMELINE_POINTS = 120  # [seconds since first sample, Rss, USS, shared] kept per process
SMAPS_KEYS = ("Rss", "Pss", "Private_Clean", "Private_Dirty", "Shared_Clean", "Shared_Dirty")


def _kib_fields(path: str, keys: tuple[str, ...]) -> dict[str, int] | None:
    """``keys`` of a /proc file of ``key: value kB`` lines, in bytes (PPid as is); None when
    the file cannot be read (the process is gone, or not ours to read)."""
    out: dict[str, int] = {}
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in keys:
                    out[key] = int(value.split()[0]) * 1024
                elif key == "PPid":
                    out[key] = int(value)
    except (OSError, ValueError):
        return None
    return out


def _memory(pid: int) -> dict[str, int] | None:
    """The memory of ``pid`` in bytes, and its parent; None once it is gone.

    From /proc/<pid>/status: VmHWM, VmRSS, RssAnon, PPid; from /proc/<pid>/smaps_rollup
    (when readable): Rss, Pss, Uss (Private_Clean + Private_Dirty: pages no other process
    maps) and Shared (Shared_Clean + Shared_Dirty)."""
    out = _kib_fields(f"/proc/{pid}/status", STATUS_KEYS)
    if not out or "VmHWM" not in out:
        return None
    smaps = _kib_fields(f"/proc/{pid}/smaps_rollup", SMAPS_KEYS)
    if smaps and "Rss" in smaps:
        out["Rss"], out["Pss"] = smaps["Rss"], smaps.get("Pss", 0)
        out["Uss"] = smaps.get("Private_Clean", 0) + smaps.get("Private_Dirty", 0)
        out["Shared"] = smaps.get("Shared_Clean", 0) + smaps.get("Shared_Dirty", 0)
    return out


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:300]
    except OSError:
        return ""


def _new_record(pid: int, cmdline: str, ppid: int) -> dict[str, Any]:
    return {
        "pid": pid,
        "cmdline": cmdline,
        "ppid": ppid,
        "parent_cmdline": _cmdline(ppid),
        "samples": 0,
        "vm_hwm_bytes": 0,
        "vm_rss_max_bytes": 0,
        "rss_anon_max_bytes": 0,
        "uss_max_bytes": 0,
        "pss_max_bytes": 0,
        "shared_min_bytes": None,
        "at_uss_peak": None,
        "parent": None,
        "first_sample": time.monotonic(),
        "timeline": [],
    }


def _update(rec: dict[str, Any], mem: dict[str, int]) -> None:
    """One sample into a process's record: maxima, the smallest shared size, and the
    split of its resident pages at the sample with the most private memory."""
    rec["samples"] += 1
    rec["vm_hwm_bytes"] = max(rec["vm_hwm_bytes"], mem["VmHWM"])
    rec["vm_rss_max_bytes"] = max(rec["vm_rss_max_bytes"], mem.get("VmRSS", 0))
    rec["rss_anon_max_bytes"] = max(rec["rss_anon_max_bytes"], mem.get("RssAnon", 0))
    if "Uss" not in mem:
        return
    t = round(time.monotonic() - rec["first_sample"], 3)
    rec["timeline"].append([t, mem["Rss"], mem["Uss"], mem["Shared"]])
    rec["pss_max_bytes"] = max(rec["pss_max_bytes"], mem["Pss"])
    if rec["shared_min_bytes"] is None or mem["Shared"] < rec["shared_min_bytes"]:
        rec["shared_min_bytes"] = mem["Shared"]
    if mem["Uss"] >= rec["uss_max_bytes"]:
        rec["uss_max_bytes"] = mem["Uss"]
        rec["at_uss_peak"] = {
            "rss_bytes": mem["Rss"],
            "uss_bytes": mem["Uss"],
            "pss_bytes": mem["Pss"],
            "shared_bytes": mem["Shared"],
        }
    # USS(t) = Rss(t) - Shared(t) <= VmHWM - min Shared: a bound on the private peak that
    # does not depend on a sample catching it (only on the smallest shared size seen).
    rec["uss_bound_bytes"] = max(rec["vm_hwm_bytes"] - rec["shared_min_bytes"], 0)


def _update_parent(rec: dict[str, Any], mem: dict[str, int]) -> None:
    """The parent's memory beside the child's (the fork server: what the child inherits)."""
    parent = rec["parent"]
    if parent is None:
        parent = rec["parent"] = {
            "pid": rec["ppid"],
            "cmdline": rec["parent_cmdline"],
            "samples": 0,
            "vm_rss_first_bytes": mem.get("VmRSS", 0),
            "vm_rss_max_bytes": 0,
            "uss_max_bytes": 0,
            "pss_max_bytes": 0,
        }
    parent["samples"] += 1
    parent["vm_rss_max_bytes"] = max(parent["vm_rss_max_bytes"], mem.get("VmRSS", 0))
    parent["uss_max_bytes"] = max(parent["uss_max_bytes"], mem.get("Uss", 0))
    parent["pss_max_bytes"] = max(parent["pss_max_bytes"], mem.get("Pss", 0))


def _thin(points: list[Any], most: int) -> list[Any]:
    """At most about ``most`` evenly spaced points, the last one kept."""
    if len(points) <= most:
        return points
    step = -(-len(points) // most)
    return [*points[:-1:step], points[-1]]


class RssSampler:
    """Samples the memory of every process below ``root`` while the block runs: VmHWM
    (the kernel's exact peak of resident pages, shared ones included), and from
    smaps_rollup the private pages (USS) and the proportional set size (PSS) at each
    sample; for a new process whose parent is older (the fork server), the parent too."""

    def __init__(self, root: int, interval: float = SAMPLE, command: str = "") -> None:
        self.root, self.interval, self.command = root, interval, command
        self.before: set[int] = set()
        self.seen: dict[int, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> RssSampler:
        self.before = descendants(self.root)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        new = descendants(self.root) - self.before
        parents: dict[int, dict[str, int] | None] = {}
        for pid in new:
            mem = _memory(pid)
            if mem is None:
                continue
            cmdline, ppid = _cmdline(pid), mem.get("PPid", 0)
            rec = self.seen.get(pid)
            if rec is None or (cmdline and cmdline != rec["cmdline"]):
                # first sight, or the process exec'd (a peer's fork before exec carries
                # this process's memory): start its record afresh
                rec = self.seen[pid] = _new_record(pid, cmdline, ppid)
            _update(rec, mem)
            if ppid in new or ppid in (0, self.root):
                continue
            if ppid not in parents:
                parents[ppid] = _memory(ppid)
            parent_mem = parents[ppid]
            if parent_mem is not None:
                _update_parent(rec, parent_mem)

    def result(self) -> dict[str, Any]:
        """The process of interest: for a peer the new process running ``command``, for
        Safehold the fork server's new child (the flow run); else the new process with the
        highest VmHWM. And every new process seen."""
        new = sorted(self.seen.values(), key=lambda r: -int(r["vm_hwm_bytes"]))
        if self.command:
            how = f"new process running {self.command}"
            matching = [r for r in new if self.command in r["cmdline"]]
        else:
            how = "child of the fork server"
            matching = [r for r in new if "forkserver" in r["parent_cmdline"]]
        chosen = matching[0] if matching else (new[0] if new else None)
        if chosen is not None:
            chosen = {k: v for k, v in chosen.items() if k != "first_sample"}
            chosen["timeline"] = _thin(chosen["timeline"], TIMELINE_POINTS)
        keys = ("pid", "vm_hwm_bytes", "uss_max_bytes", "samples", "cmdline")
        return {
            "method": "VmHWM of /proc/<pid>/status; USS (Private_Clean + Private_Dirty) and "
            f"Pss of /proc/<pid>/smaps_rollup; sampled every {self.interval:.2f} s, of the "
            "processes that appeared during the step",
            "process": chosen,
            "identified_by": how if matching else "largest new process",
            "new_processes": [{k: r.get(k) for k in keys} for r in new[:6]],
        }


# --- restic and borg on the image file ------------------------------------------------------


def _measured(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> dict[str, Any]:
    """Drop the page cache, run; seconds, whether the drop worked, peak RSS sampled as for
    Safehold (ru_maxrss would not do: Linux keeps the forking parent's peak across exec)."""
    cold = data.drop_caches()
    with tempfile.TemporaryFile() as err, RssSampler(os.getpid(), command=argv[0]) as sampler:
        start = time.perf_counter()
        proc = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            err.seek(0)
            tail = " | ".join(err.read().decode(errors="replace").strip().splitlines()[-8:])
            raise peers.PeerError(f"{' '.join(argv[:3])} exited {proc.returncode}: {tail}")
    return {"seconds": seconds, "cold_cache": cold, "rss": sampler.result()}


def _growth(repo: Path, before: tuple[int, int]) -> dict[str, int]:
    files, total = shares.usage(repo)
    return {"stored_bytes": total - before[1], "objects": files - before[0], "repo_bytes": total}


def _verify_file(restored: Path, expected_sha: str) -> dict[str, Any]:
    digest = data.file_digest(restored)
    if digest != expected_sha:
        raise BenchError(f"restored image {restored} differs: sha256 {digest[:16]}...")
    return {"sha256_equal": True, "restored_allocated_bytes": data.allocated(restored)}


class ImageRestic(shares.Restic):
    """restic on the image file (shares.Restic's repository and settings)."""

    def backup(self, label: str) -> dict[str, Any]:
        argv = [self.binary, "backup", "--quiet", "--host", "bench", "--tag", label]
        before = shares.usage(self.repo)
        result = _measured([*argv, str(self.source)], self.env)
        return {**result, **_growth(self.repo, before)}

    def restore_image(self, expected_sha: str) -> dict[str, Any]:
        target = self.workdir / "fsimage-restic-restore"
        argv = [self.binary, "restore", "latest", "--quiet", "--target", str(target)]
        sparse = "--sparse" in self._help("restore")
        try:
            result = _measured([*argv, *(["--sparse"] if sparse else [])], self.env)
            result.update(_verify_file(target / self.source.relative_to("/"), expected_sha))
        finally:
            shutil.rmtree(target, ignore_errors=True)
        result["sparse_restore"] = sparse
        return result


class ImageBorg(shares.Borg):
    """borg on the image file (shares.Borg's repository and settings)."""

    def backup(self, label: str) -> dict[str, Any]:
        self.last = label
        argv = [self.binary, "create", "--compression", "zstd,3", f"{self.repo}::{label}"]
        before = shares.usage(self.repo)
        result = _measured([*argv, str(self.source)], self.env)
        return {**result, **_growth(self.repo, before)}

    def restore_image(self, expected_sha: str) -> dict[str, Any]:
        target = self.workdir / "fsimage-borg-restore"
        target.mkdir()
        argv = [self.binary, "extract", "--sparse", f"{self.repo}::{self.last}"]
        try:
            result = _measured(argv, self.env, cwd=target)
            result.update(_verify_file(target / self.source.relative_to("/"), expected_sha))
        finally:
            shutil.rmtree(target, ignore_errors=True)
        result["sparse_restore"] = True
        return result


# --- Safehold through the Cinder API ---------------------------------------------------------


class Safehold:
    """One volume holding the image; its backups and restore through the Cinder API."""

    name = "safehold"

    def __init__(self, svc: Any, image_bytes: int) -> None:
        self.svc = svc
        self.api = latency.Api(svc.url, PROJECT)
        self.store = Path(svc.data_dir) / "backups"
        self.gib = -(-image_bytes // GIB)
        self.volume_id = ""
        self.path = Path()
        self.backups: list[str] = []
        self.sample = SAMPLE  # seconds between memory samples
        # (step, flow run id, wall clock of the API call): Prefect is read at the end,
        # since a run may still show Running when its resource is already settled.
        self.runs: list[tuple[str, str, datetime]] = []

    def wait(self, kind: str, obj_id: str, statuses: set[str]) -> dict[str, Any]:
        """Poll every POLL s until the status is in ``statuses``."""
        start = time.perf_counter()
        while True:
            obj: dict[str, Any] = self.api.get(f"{kind}s/{obj_id}")[kind]
            if obj["status"] in statuses:
                return obj
            if time.perf_counter() - start > TIMEOUT:
                raise TimeoutError(f"{kind} {obj_id} stuck in {obj['status']}")
            time.sleep(POLL)

    def create_volume(self, image: Path) -> Path:
        """A new volume of the image's size, the image copied into its file (untimed)."""
        body = {"volume": {"size": self.gib, "name": "bench-fsimage"}}
        volume = self.api.post("volumes", body)["volume"]
        volume = self.wait("volume", volume["id"], {"available", "error"})
        if volume["status"] != "available":
            raise BenchError(f"volume {volume['id']} ended in {volume['status']}")
        self.volume_id = volume["id"]
        self.path = Path(volume["metadata"]["safehold:path"])
        if os.path.getsize(self.path) != os.path.getsize(image):
            raise BenchError(f"volume file {self.path} is not {os.path.getsize(image)} bytes")
        incremental._sparse_copy(image, self.path)  # cp --sparse=always --reflink=auto
        return self.path

    def _flow_run_id(self, backup_id: str) -> str:
        resp = self.api.http.get(
            f"{self.svc.url}/v1/{PROJECT}/backups/{backup_id}/progress", timeout=30
        )
        return str(latency._json(resp)["progress"].get("flow_run_id") or "")

    def backup(self, label: str) -> dict[str, Any]:
        """Full (first call) or incremental backup, from the API call until available."""
        is_incremental = bool(self.backups)
        body = {
            "backup": {
                "volume_id": self.volume_id,
                "name": f"bench-fsimage-{label}",
                "incremental": is_incremental,
            }
        }
        before = shares.usage(self.store)
        cold = data.drop_caches()
        with RssSampler(self.svc.pid, self.sample) as sampler:
            posted = datetime.now(UTC)
            start = time.perf_counter()
            backup = self.api.post("backups", body)["backup"]
            done = self.wait("backup", backup["id"], {"available", "error"})
            seconds = time.perf_counter() - start
        if done["status"] != "available":
            raise BenchError(f"backup {backup['id']} ended in error: {done.get('fail_reason')}")
        if done["is_incremental"] != is_incremental:
            raise BenchError(f"backup {backup['id']}: is_incremental {done['is_incremental']}")
        self.backups.append(backup["id"])
        self.runs.append((label, self._flow_run_id(backup["id"]), posted))
        volume_wait = time.perf_counter()
        self.wait("volume", self.volume_id, {"available", "error"})
        return {
            "seconds": seconds,
            "cold_cache": cold,
            **_growth(self.store, before),
            "id": backup["id"],
            "is_incremental": done["is_incremental"],
            "object_count": done.get("object_count"),
            "volume_available_after_s": time.perf_counter() - volume_wait,
            "rss": sampler.result(),
        }

    def restore_image(self, expected_sha: str) -> dict[str, Any]:
        """The last backup into a new volume until it is available; verified, deleted."""
        backup_id = self.backups[-1]
        body = {"restore": {"name": "bench-fsimage-restored"}}
        cold = data.drop_caches()
        with RssSampler(self.svc.pid, self.sample) as sampler:
            posted = datetime.now(UTC)
            start = time.perf_counter()
            restore = self.api.post(f"backups/{backup_id}/restore", body)["restore"]
            statuses = {"available", "error", "error_restoring"}
            volume = self.wait("volume", restore["volume_id"], statuses)
            seconds = time.perf_counter() - start
        if volume["status"] != "available":
            raise BenchError(f"restore into {volume['id']} ended in {volume['status']}")
        self.wait("backup", backup_id, {"available", "error"})
        self.runs.append(("restore", self._flow_run_id(backup_id), posted))
        path = Path(volume["metadata"]["safehold:path"])
        try:
            result = _verify_file(path, expected_sha)
            check = fsimage_tree.fsck(path)
            if not check["clean"]:
                raise BenchError(f"restored image fails e2fsck -fn: {check['summary']}")
        finally:
            with contextlib.suppress(Exception):
                self.api.http.delete(f"{self.api.base}/volumes/{volume['id']}", timeout=30)
        return {
            "seconds": seconds,
            "cold_cache": cold,
            **result,
            "fsck": check,
            "volume_id": volume["id"],
            "rss": sampler.result(),
        }

    def flow_runs(self) -> dict[str, dict[str, Any]]:
        """Prefect's record of each step's flow run, by step."""
        try:
            return asyncio.run(self._read_runs())
        except Exception as exc:  # diagnostics only
            return {"error": {"error": f"{type(exc).__name__}: {exc}"[:300]}}

    async def _read_runs(self) -> dict[str, dict[str, Any]]:
        from prefect.client.orchestration import PrefectClient

        out: dict[str, dict[str, Any]] = {}
        async with PrefectClient(self.svc.prefect_api) as client:
            for step, run_id, posted in self.runs:
                if not run_id:
                    out[step] = {"error": "no flow_run_id in the progress view"}
                    continue
                run = await client.read_flow_run(uuid.UUID(run_id))
                start, end = _wall(run.start_time), _wall(run.end_time)
                out[step] = {
                    "flow_run_id": run_id,
                    "name": run.name,
                    "state": run.state_name,
                    "start_time": start.isoformat() if start else None,
                    "end_time": end.isoformat() if end else None,
                    "api_call_to_start_seconds": (start - posted).total_seconds()
                    if start
                    else None,
                    "body_seconds": (end - start).total_seconds() if start and end else None,
                    "api_call_to_end_seconds": (end - posted).total_seconds() if end else None,
                    "task_seconds": await shares._task_seconds(client, run.id),
                }
        return out


def _wall(value: Any) -> datetime | None:
    """A Prefect timestamp (a datetime subclass) as a plain optional datetime."""
    return value if isinstance(value, datetime) else None


# --- the section -----------------------------------------------------------------------------


def _attempt(step: str, results: dict[str, Any], name: str, fn: Callable[[], Any]) -> bool:
    """One step of one tool into ``results[name][step]``; a failure is recorded there."""
    print(f"    {step} {name} ...", end="", flush=True)
    try:
        results[name][step] = fn()
    except Exception as exc:
        print(" FAILED", flush=True)
        traceback.print_exc()
        results[name]["error"] = f"{step}: {type(exc).__name__}: {exc}"[:1500]
        return False
    print(f" {results[name][step]['seconds']:.1f} s", flush=True)
    return True


def _peers(workdir: Path, source: Path, tools: dict[str, Any], results: dict[str, Any]) -> None:
    """restic and borg set up on ``source``; a missing tool is said loudly and skipped."""
    classes: dict[str, Callable[[], Any]] = {
        "restic": lambda: ImageRestic(workdir, "fsimage", source),
        "borg": lambda: ImageBorg(workdir, "fsimage", source),
    }
    for name, make in classes.items():
        try:
            peer = make()
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"[:1000]
            print(f"  !! {name} NOT AVAILABLE, skipped: {reason}", flush=True)
            results[name] = {"skipped": reason}
            continue
        tools[name] = peer
        results[name] = peer.describe()


def _phase(
    step: str, tools: dict[str, Any], results: dict[str, Any], fn: Callable[[Any], Any]
) -> None:
    """One step for every tool still standing; a tool that fails drops out of later steps."""
    for name in list(tools):
        if not _attempt(step, results, name, functools.partial(fn, tools[name])):
            del tools[name]


@contextlib.contextmanager
def service(workdir: Path, out: dict[str, Any], name: str = "fsimage") -> Iterator[Any]:
    """A running Safehold under ``workdir/<name>-service``; its start-up time in ``out``."""
    from tests.live import running

    start = time.perf_counter()
    with running(workdir / f"{name}-service") as svc:
        out["service"] = {
            "startup_seconds": time.perf_counter() - start,
            "data_dir": str(svc.data_dir),
        }
        yield svc


def measure(workdir: Path) -> dict[str, Any]:
    """Build (or reuse) the image, run every step; the raw and derived results."""
    image_bytes = _env_int("SAFEHOLD_BENCH_FSIMAGE_GIB", 2) * GIB
    tree_bytes = _env_int("SAFEHOLD_BENCH_FSIMAGE_TREE_MIB", 900) * MIB
    out: dict[str, Any] = {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "loadavg_start": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
        "notes": NOTES,
    }
    start = time.perf_counter()
    built = fsimage_tree.build(tree_bytes, image_bytes)
    out["image"] = {**built.meta, "path": str(built.path), "ready_seconds": _since(start)}
    print("  hardware limits ...", flush=True)
    try:
        out["hardware"] = hardware.measure(built.path)
    except Exception as exc:
        out["hardware"] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    results: dict[str, dict[str, Any]] = {}
    tools: dict[str, Any] = {}
    try:
        with service(workdir, out) as svc:
            safehold = Safehold(svc, image_bytes)
            source = safehold.create_volume(built.path)
            tools["safehold"] = safehold
            results["safehold"] = {
                "version": "Cinder API",
                "settings": "service defaults",
                "volume_id": safehold.volume_id,
            }
            _peers(workdir, source, tools, results)
            _steps(workdir, built, source, tools, results, out)
            rounds = _env_int("SAFEHOLD_BENCH_FSIMAGE_LATENCY_ROUNDS", 50)
            if rounds > 0:
                print(f"  start latency: {rounds} volume creations + {rounds} backups ...")
                try:
                    out["latency"] = latency.measure(svc, rounds)
                except Exception as exc:
                    traceback.print_exc()
                    out["latency"] = {
                        "error": f"{type(exc).__name__}: {exc}"[:500],
                        "log_tails": shares.log_tails(Path(svc.data_dir), 60),
                    }
            safehold_runs = safehold.flow_runs()
            for step, run in safehold_runs.items():
                if step in results["safehold"]:
                    results["safehold"][step]["flow_run"] = run
    except Exception as exc:
        traceback.print_exc()
        out["error"] = f"{type(exc).__name__}: {exc}"[:1500]
        out["log_tails"] = shares.log_tails(workdir / "fsimage-service")
    finally:
        out["tools"] = results
        for path in workdir.glob("share-fsimage-*"):
            shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(workdir / "fsimage-service", ignore_errors=True)
    out["loadavg_end"] = os.getloadavg()[0]
    out["cache_drop"] = data.drop_caches()
    out["section_seconds"] = _since(start)
    derive(out)
    return out


def _since(start: float) -> float:
    return time.perf_counter() - start


def _steps(
    workdir: Path,
    built: fsimage_tree.Built,
    source: Path,
    tools: dict[str, Any],
    results: dict[str, Any],
    out: dict[str, Any],
) -> None:
    """full, change, incremental, restore, in that order, every tool still standing."""
    out["fs_before"] = fsimage_tree.fs_stats(source)
    print("  full backups ...", flush=True)
    _phase("full", tools, results, lambda t: t.backup("full"))
    print("  changing ~2 % of the files ...", flush=True)
    changed = fsimage_tree.change(source, built.manifest, workdir)
    changed["fs_after"] = fsimage_tree.fs_stats(source)
    changed["sha256_after"] = data.file_digest(source)
    changed["image_diff"] = fsimage_tree.image_diff(built.path, source)
    changed["fsck_after"] = fsimage_tree.fsck(source)
    out["change"] = changed
    print(
        f"  {changed['files_changed']} files changed ({changed['method']}): "
        f"{changed['changed_bytes'] / 1e6:.1f} MB written",
        flush=True,
    )
    print("  incremental backups ...", flush=True)
    _phase("incremental", tools, results, lambda t: t.backup("incremental"))
    print("  restores of the incremental ...", flush=True)
    _phase("restore", tools, results, lambda t: t.restore_image(changed["sha256_after"]))


def failed(result: dict[str, Any]) -> list[str]:
    """Every error of the section (skipped peers are not errors), empty when all went well."""
    errors = [f"section: {result['error']}"] if "error" in result else []
    for name, tool in result.get("tools", {}).items():
        if "error" in tool:
            errors.append(f"{name}: {tool['error']}")
    if "error" in result.get("latency", {}):
        errors.append(f"latency: {result['latency']['error']}")
    return errors


# --- derived numbers and the table -----------------------------------------------------------


def _over(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def derive(out: dict[str, Any]) -> None:
    """MB/s, stored over changed bytes, Safehold/peer ratios, in place."""
    if "tools" not in out or "image" not in out:
        return
    apparent = out["image"]["image_bytes"]
    used = {
        "full": out.get("fs_before", {}).get("used_bytes"),
        "incremental": out.get("change", {}).get("fs_after", {}).get("used_bytes"),
    }
    used["restore"] = used["incremental"]
    changed = out.get("change", {}).get("changed_bytes")
    tools = out["tools"]
    for tool in tools.values():
        for step in STEPS:
            s = tool.get(step)
            if not s:
                continue
            s["mb_s_apparent"] = report.mb_s(apparent, s["seconds"])
            s["mb_s_used"] = report.mb_s(used[step], s["seconds"]) if used[step] else None
            if step == "incremental" and changed:
                s["stored_vs_changed"] = s["stored_bytes"] / changed
                diff = out["change"].get("image_diff", {})
                for key in ("fs_block_bytes_changed", "mib_block_bytes_changed"):
                    if diff.get(key):
                        s[f"stored_vs_{key}"] = s["stored_bytes"] / diff[key]
    own = tools.get("safehold", {})
    ratios: dict[str, dict[str, float | None]] = {}
    for peer in PEERS:
        other = tools.get(peer, {})
        r: dict[str, float | None] = {}
        for step in STEPS:
            r[f"{step}_speed"] = _over(_get(other, step, "seconds"), _get(own, step, "seconds"))
        for step in ("full", "incremental"):
            r[f"{step}_stored"] = _over(
                _get(own, step, "stored_bytes"), _get(other, step, "stored_bytes")
            )
        ratios[peer] = r
    out["ratios"] = ratios
    hw = out.get("hardware", {})
    if "sha256_1_thread" in hw:
        sha = hw["sha256_1_thread"]["mb_s"]
        out["vs_hardware"] = {
            f"{step}_used_mb_s_over_sha256_1_thread": _over(_get(own, step, "mb_s_used"), sha)
            for step in STEPS
        }


def _get(tool: dict[str, Any], step: str, key: str) -> float | None:
    value = tool.get(step, {}).get(key)
    return float(value) if value is not None else None


def _num(value: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def peak(step: dict[str, Any], key: str = "vm_hwm_bytes") -> float | None:
    """One peak of a step's process of interest (VmHWM, or uss_max_bytes, pss_max_bytes)."""
    proc = step.get("rss", {}).get("process")
    value = proc.get(key) if proc else None
    return float(value) if value else None


def _mib(value: float | None) -> str:
    return _num(value / MIB if value else None, "{:.0f}")


def memory_line(proc: dict[str, Any] | None) -> str:
    """What a flow-run process's memory is made of: VmHWM, peak USS and PSS, the split of
    its resident pages at the peak-USS sample, and the fork server's own RSS."""
    if not proc:
        return "flow-run process not seen"
    line = (
        f"flow-run pid {proc['pid']}: VmHWM {_mib(proc['vm_hwm_bytes'])} MiB, peak USS "
        f"{_mib(proc.get('uss_max_bytes'))} MiB (<= {_mib(proc.get('uss_bound_bytes'))} "
        f"MiB), peak PSS {_mib(proc.get('pss_max_bytes'))} MiB, max RssAnon "
        f"{_mib(proc['rss_anon_max_bytes'])} MiB ({proc['samples']} samples)"
    )
    at, parent = proc.get("at_uss_peak"), proc.get("parent")
    if at:
        line += (
            f"; at the USS peak RSS {_mib(at['rss_bytes'])} = private "
            f"{_mib(at['uss_bytes'])} + shared {_mib(at['shared_bytes'])} MiB"
        )
    if parent:
        line += (
            f"; fork server pid {parent['pid']} RSS {_mib(parent['vm_rss_first_bytes'])} MiB"
            f" (max {_mib(parent['vm_rss_max_bytes'])})"
        )
    if at and parent:
        gone = parent["vm_rss_first_bytes"] - at["shared_bytes"]
        line += f", of which ~{_mib(max(gone, 0))} MiB no longer shared at the USS peak"
    return line


def _row(step: str, name: str, tool: dict[str, Any], ratios: dict[str, Any]) -> str:
    s = tool.get(step, {})
    speed = "" if name == "safehold" else _num(ratios.get(name, {}).get(f"{step}_speed"), "{:.2f}x")
    check = ""
    if step == "restore" and s:
        check = "sha256 ok" + (", e2fsck clean" if s.get("fsck", {}).get("clean") else "")
        if "restored_allocated_bytes" in s:
            check += f", {s['restored_allocated_bytes'] / MIB:.0f} MiB allocated"
    return (
        f"  {step:<12}{name:<9}{_num(s.get('seconds'), '{:.2f}'):>8}"
        f"{_num(s.get('mb_s_apparent')):>10}{_num(s.get('mb_s_used')):>10}"
        f"{_num(s['stored_bytes'] / MIB if 'stored_bytes' in s else None):>11}"
        f"{_num(s.get('stored_vs_changed'), '{:.2f}'):>8}{speed:>10}"
        f"{_mib(peak(s)):>7}{_mib(peak(s, 'uss_max_bytes')):>6}"
        f"{_mib(peak(s, 'pss_max_bytes')):>6}  {check}"
    ).rstrip()


def _table(out: dict[str, Any]) -> list[str]:
    head = (
        f"  {'phase':<12}{'tool':<9}{'seconds':>8}{'MB/s img':>10}{'MB/s used':>10}"
        f"{'stored MiB':>11}{'st/chg':>8}{'sh faster':>10}{'VmHWM':>7}{'USS':>6}{'PSS':>6}"
        "  verified"
    )
    lines = [head, "  " + "-" * (len(head) - 2)]
    tools, ratios = out.get("tools", {}), out.get("ratios", {})
    for step in STEPS:
        for name in TOOLS:
            tool = tools.get(name, {})
            if step in tool:
                lines.append(_row(step, name, tool, ratios))
            elif "skipped" in tool:
                lines.append(f"  {step:<12}{name:<9}skipped: {tool['skipped'][:120]}")
            else:
                lines.append(f"  {step:<12}{name:<9}not measured")
    for name in TOOLS:
        tool = tools.get(name, {})
        if "error" in tool:
            lines.append(f"  !! {name} FAILED: {tool['error'][:600]}")
        if "settings" in tool:
            version = f" ({tool['version']})" if tool.get("version") else ""
            lines.append(f"  {name}{version}: {tool['settings']}")
    return lines


def _ratio_lines(out: dict[str, Any]) -> list[str]:
    lines = []
    for peer, r in out.get("ratios", {}).items():
        speeds = ", ".join(f"{s} {_num(r[f'{s}_speed'], '{:.2f}x')}" for s in STEPS)
        lines.append(
            f"  safehold vs {peer:<7} speed (>1 = Safehold faster): {speeds}; stored "
            f"(Safehold/{peer}): full {_num(r['full_stored'], '{:.2f}')}, "
            f"incremental {_num(r['incremental_stored'], '{:.2f}')}"
        )
    return lines


def _incremental_line(out: dict[str, Any]) -> list[str]:
    parts = []
    for name in TOOLS:
        s = out.get("tools", {}).get(name, {}).get("incremental", {})
        fs, mib = (
            s.get("stored_vs_fs_block_bytes_changed"),
            s.get("stored_vs_mib_block_bytes_changed"),
        )
        if fs is not None and mib is not None:
            parts.append(f"{name} {fs:.2f} / {mib:.2f}")
    if not parts:
        return []
    return [
        "  incremental stored over the image-level change (changed 4 KiB blocks / changed "
        "1 MiB blocks): " + ", ".join(parts)
    ]


def _flow_lines(out: dict[str, Any]) -> list[str]:
    lines = []
    own = out.get("tools", {}).get("safehold", {})
    for step in STEPS:
        s = own.get(step)
        if not s:
            continue
        run = s.get("flow_run", {})
        mem = memory_line(s.get("rss", {}).get("process"))
        if "body_seconds" in run:
            to_start, body = run["api_call_to_start_seconds"], run["body_seconds"]
            to_end = run["api_call_to_end_seconds"]
            seen = s["seconds"] - to_end if to_end is not None else None
            tasks = sorted(run.get("task_seconds", {}).items(), key=lambda kv: -kv[1])[:2]
            split = ", ".join(f"{k} {v:.1f} s" for k, v in tasks)
            timing = (
                f"end-to-end {s['seconds']:.2f} s: call->flow start {_num(to_start, '{:.2f}')} s,"
                f" flow body {_num(body, '{:.2f}')} s ({split}); 'available' seen "
                f"{_num(seen, '{:+.2f}')} s after the flow run's end"
            )
        else:
            timing = f"end-to-end {s['seconds']:.1f} s; flow run: {run.get('error', 'not read')}"
        lines.append(f"  {step:<12}{timing}")
        lines.append(f"  {'':<12}{mem}")
    return lines


def _latency_lines(lat: dict[str, Any] | None) -> list[str]:
    if not lat:
        return ["  not run (SAFEHOLD_BENCH_FSIMAGE_LATENCY_ROUNDS=0, or the section failed)"]
    if "error" in lat:
        return [f"  FAILED: {lat['error']}"]

    def row(name: str, s: dict[str, Any] | None) -> str:
        if not s:
            return f"  {name:<30} - (no flow run found)"
        return (
            f"  {name:<30}p50 {s['median'] * 1000:>6.0f} ms   p90 {s['p90'] * 1000:>6.0f} ms"
            f"   (min {s['min'] * 1000:.0f}, max {s['max'] * 1000:.0f})"
        )

    return [
        row("POST /volumes -> available", lat.get("volume_create_to_available_seconds")),
        row("POST /backups (response)", lat.get("post_seconds")),
        row("POST /backups -> flow start", lat.get("post_to_flow_start_seconds")),
        row("POST /backups -> available", lat.get("post_to_available_seconds")),
        f"  ({lat['rounds']} of each; {lat['flow_runs_found']}/{lat['rounds']} flow runs found "
        "by tests/bench/latency.py)",
    ]


def _hardware_lines(hw: dict[str, Any]) -> list[str]:
    if "sha256_1_thread" not in hw:
        return [f"  not measured: {hw.get('error', '?')}"]
    n = hw["sha256_threads"]
    zr, zt = hw["zstd3_random"], hw["zstd3_text"]
    return [
        f"  sha256 {hw['sha256_1_thread']['mb_s']:.0f} MB/s (1 thread), "
        f"{hw['sha256_n_threads']['mb_s']:.0f} MB/s ({n} threads); blake3 "
        f"{hw.get('blake3_1_thread', {}).get('mb_s', float('nan')):.0f} MB/s (1 thread); "
        "zstd-3 compress "
        f"{zr['compress']['mb_s']:.0f} MB/s random, {zt['compress']['mb_s']:.0f} MB/s text "
        f"(ratio {zt['ratio']:.2f}); decompress {zt['decompress']['mb_s']:.0f} MB/s text; "
        f"cold read of the image {hw['cold_read_image']['mb_s']:.0f} MB/s",
    ]


def _header(out: dict[str, Any]) -> list[str]:
    img = out["image"]
    tree, fs = img["tree"], img["fs"]
    c = out.get("change", {})
    lines = [
        "",
        f"File-system image: {img['image_bytes'] / GIB:.1f} GiB ext4, "
        f"{fs['used_bytes'] / 1e9:.3f} GB used ({fs['inodes_used']:,} inodes); tree "
        f"{tree['bytes'] / MIB:.0f} MiB in {tree['files']:,} files, {tree['dirs']:,} dirs "
        f"(seed {tree['seed']}); {'cached' if img.get('cached') else 'built'} in "
        f"{img['cache_dir']}",
    ]
    if c:
        lines.append(
            f"  change via {c['method']}: {c['files_changed']:,} of {c['files_before']:,} files "
            f"({c['rewritten']} rewritten, {c['patched']} patched, {c['appended']} appended, "
            f"{c['deleted']} deleted, {c['added']} added): {c['changed_bytes'] / 1e6:.2f} MB "
            f"of file data written; used after {c['fs_after']['used_bytes'] / 1e9:.3f} GB"
        )
        diff = c.get("image_diff")
        if diff:
            lines.append(
                f"  image level: {diff['fs_blocks_changed']:,} 4 KiB blocks differ "
                f"({diff['fs_block_bytes_changed'] / 1e6:.1f} MB: file data, inode tables, "
                f"bitmaps, journal), in {diff['mib_blocks_changed']:,} distinct 1 MiB blocks "
                f"({diff['mib_block_bytes_changed'] / MIB:.0f} MiB)"
            )
    svc = out.get("service", {})
    cache = "worked" if out.get("cache_drop") else "NOT possible"
    lines += [
        f"  {out.get('cpu_count')} CPUs; 1-min load {out['loadavg_start']:.2f} at start, "
        f"{out.get('loadavg_end', float('nan')):.2f} at end; page-cache drop: {cache}; "
        f"service start-up {_num(svc.get('startup_seconds'))} s; section "
        f"{_num(out.get('section_seconds'), '{:.0f}')} s",
        "Hardware limits (same run)",
        *_hardware_lines(out.get("hardware", {})),
    ]
    vs = out.get("vs_hardware")
    if vs:
        lines.append(
            "  Safehold MB/s of used bytes over sha256 1 thread: "
            + ", ".join(
                f"{s} {_num(vs[f'{s}_used_mb_s_over_sha256_1_thread'], '{:.0%}')}" for s in STEPS
            )
        )
    return lines


def render(out: dict[str, Any]) -> str:
    """The section as a table (or the reason it did not run)."""
    if "image" not in out:
        return f"\nfile-system image: {out.get('error') or out.get('skipped') or 'not run'}"
    lines = _header(out)
    if "error" in out:
        lines.append(f"  !! SECTION FAILED: {out['error'][-1200:]}")
    lines += [
        "",
        "Full, incremental (after the change), restore of the incremental (MB/s img: of the "
        f"{out['image']['image_bytes'] / GIB:.0f} GiB apparent size; MB/s used: of the file "
        "system's used bytes; sh faster: peer s / Safehold s; VmHWM, USS, PSS: peak MiB, "
        "see notes)",
        *_table(out),
        *_ratio_lines(out),
        *_incremental_line(out),
        "",
        "Safehold flow runs (API call to 'available' vs Prefect's start/end of the flow run)",
        *_flow_lines(out),
        "",
        "Start latency (tests/bench/latency.measure on the same service)",
        *_latency_lines(out.get("latency")),
        "",
        "Notes",
        *[f"  - {note}" for note in out.get("notes", [])],
    ]
    return "\n".join(lines)


SECTION = sections.Section(
    "fsimage",
    "file-system image (ext4: safehold Cinder API, restic, borg)",
    measure,
    render,
    failed,
    RESULTS,
)
run, section, only = SECTION.run, SECTION.section, SECTION.only
