"""Memory of a backup and a restore against the volume's size (issue 10 item 7: the peak
RSS of the process running a backup or restore stays <= 150 MB for a 4 GiB volume and does
not grow with the volume).

In one running Safehold (``tests.live.running``), through the Cinder API as the admin of
fsimage.PROJECT, for each size of SAFEHOLD_BENCH_MEMORY_GIB (default "1,2,4") GiB:

  fill     a new volume of that size; its file (safehold:path) gets seeded mixed data in
           1-8 MiB regions spread over the whole volume: about half of it written
           (random: incompressible; text: zstd-3 ratio about 4; written zeros), the other
           half left as holes (untimed; each size has its own seed, so no volume's blocks
           repeat another's)
  backup   a full backup, from the API call until ``available``
  restore  that backup into a new volume, until the volume is ``available``; its file
           compared byte for byte with the source's

Each step is timed as in tests/bench/fsimage.py (polled every 0.1 s, the page cache dropped
before it) and the memory of its flow-run process (the runner's fork server's new child)
sampled every SAMPLE s by fsimage.RssSampler: VmHWM (exact peak of resident pages, shared
ones included), peak USS (private pages), peak PSS, and the fork server's own RSS.

Verdict: for backup and for restore, whether the peak USS at the largest size is
<= 150 MB (10^6 bytes) and whether it grows with the size (largest vs smallest within
+15 %). Results: bench-results/memory.json; SAFEHOLD_BENCH_SKIP_MEMORY=1 leaves the section
out of a full run, SAFEHOLD_BENCH_ONLY=memory runs it alone.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.bench import data, fsimage, sections, shares

RESULTS = Path(__file__).resolve().parents[2] / "bench-results" / "memory.json"
GIB = fsimage.GIB
MIB = data.MIB
PAGE = data.PAGE
SEED = 20250710
SAMPLE = 0.05
LIMIT_BYTES = 150 * 10**6
GROWTH_LIMIT = 0.15
STEPS = ("backup", "restore")
# Region kinds and their shares of the volume: about half written, half holes.
KINDS = ("random", "text", "zeros", "hole")
SHARES = (0.225, 0.20, 0.075, 0.50)
MIN_REGION, MAX_REGION = 1 * MIB, 8 * MIB
CHUNK = 16 * MIB

NOTES = [
    "memory section: one service; per size a new volume filled with seeded mixed data "
    "(about half written: random, text, written zeros, in 1-8 MiB regions spread over the "
    "volume; the rest holes), a full backup through the Cinder API, then a restore of it "
    "into a new volume, compared byte for byte with the source; the page cache is dropped "
    "before each step; seconds = API call until 'available', polled every 0.1 s",
    f"memory of the step's flow-run process (forked by the runner's fork server), from /proc "
    f"every {SAMPLE} s: VmHWM = the kernel's exact peak of its resident pages, including "
    "those it still shares copy-on-write with the fork server (Python, Prefect and the "
    "flows, imported once; they cost the host nothing per run); USS = peak of its private "
    "pages (smaps_rollup Private_Clean + Private_Dirty: what the run adds to the host, "
    "inherited pages it wrote to included); PSS = peak of private pages plus its share of "
    "the shared ones; USS and PSS are sampled, so a spike shorter than the interval can be "
    "missed; 'USS<=' = VmHWM - the smallest shared size seen, a bound on the private peak "
    "that needs no sample at the peak; 'fork srv' = the fork server's own RSS when the run "
    "started; 'no longer shared' = fork server RSS - the run's shared pages at its USS "
    "peak: inherited pages the run copied on write (then counted in its USS: e.g. pages of "
    "objects whose reference counts or GC headers it touched) or released",
    f"verdict: peak USS at the largest size against {LIMIT_BYTES // 10**6} MB (10^6 bytes), "
    f"and growth = USS at the largest size / USS at the smallest - 1, flat when <= "
    f"{GROWTH_LIMIT:.0%}",
]


def sizes_gib() -> list[int]:
    """The volume sizes in GiB (SAFEHOLD_BENCH_MEMORY_GIB, default "1,2,4"), ascending."""
    raw = os.environ.get("SAFEHOLD_BENCH_MEMORY_GIB", "").strip() or "1,2,4"
    return sorted({int(part) for part in raw.replace(" ", "").split(",") if part})


# --- the data --------------------------------------------------------------------------------


class Filler:
    """Writes seeded mixed data into a volume file: random (SHAKE-128 of seed and offset),
    text (sentences from data.TextSource, drawn at random) and zero regions, holes
    between them. The sentence pool is made once; a region's text is a fresh draw."""

    def __init__(self, seed: int = SEED, sentences: int = 1 << 15) -> None:
        source = data.TextSource(random.Random(seed))
        rng = random.Random(seed + 1)
        self.pool = [source.take(rng.randint(64, 512)) for _ in range(sentences)]
        self.mean = sum(len(s) for s in self.pool) // len(self.pool)

    def _text(self, rng: random.Random, length: int) -> bytes:
        out = b""
        while len(out) < length:
            out += b"".join(rng.choices(self.pool, k=length // self.mean + 64))
        return out[:length]

    @staticmethod
    def plan(size: int, seed: int) -> list[tuple[str, int, int]]:
        """``(kind, offset, length)`` of every region; each kind drawn weighted by how far
        it is behind its share (as data.region_plan), so the mix holds at any size."""
        rng = random.Random(seed)
        done = dict.fromkeys(KINDS, 0)
        out = []
        offset = 0
        while offset < size:
            length = min(rng.randint(MIN_REGION // PAGE, MAX_REGION // PAGE) * PAGE, size - offset)
            deficits = [
                max(share * (offset + length) - done[kind], 1.0)
                for kind, share in zip(KINDS, SHARES, strict=True)
            ]
            kind = rng.choices(KINDS, weights=deficits)[0]
            out.append((kind, offset, length))
            done[kind] += length
            offset += length
        return out

    def fill(self, path: Path, size: int, seed: int) -> dict[str, Any]:
        """Write the regions into ``path`` (a sparse file of ``size`` bytes); what it holds."""
        start = time.perf_counter()
        rng = random.Random(seed + 2)
        by_kind = dict.fromkeys(KINDS, 0)
        regions = self.plan(size, seed)
        fd = os.open(path, os.O_WRONLY)
        try:
            if os.fstat(fd).st_size != size:
                raise fsimage.BenchError(f"volume file {path} is not {size} bytes")
            for kind, offset, length in regions:
                by_kind[kind] += length
                if kind == "random":
                    key = f"{seed}:{offset}".encode()
                    os.pwrite(fd, hashlib.shake_128(key).digest(length), offset)
                elif kind == "text":
                    os.pwrite(fd, self._text(rng, length), offset)
                elif kind == "zeros":
                    os.pwrite(fd, bytes(length), offset)
            os.fsync(fd)
        finally:
            os.close(fd)
        written = size - by_kind["hole"]
        return {
            "seed": seed,
            "regions": len(regions),
            "bytes_by_kind": by_kind,
            "written_bytes": written,
            "written_fraction": written / size,
            "allocated_bytes": data.allocated(path),
            "seconds": time.perf_counter() - start,
        }


def same_file(a: Path, b: Path) -> bool:
    """True when both files have the same size and bytes (chunked compare)."""
    if os.path.getsize(a) != os.path.getsize(b):
        return False
    with open(a, "rb", buffering=0) as fa, open(b, "rb", buffering=0) as fb:
        while True:
            ca, cb = fa.read(CHUNK), fb.read(CHUNK)
            if ca != cb:
                return False
            if not ca:
                return True


# --- Safehold through the Cinder API ---------------------------------------------------------


class Volume(fsimage.Safehold):
    """One filled volume, its full backup and a restore of it (fsimage.Safehold's API calls,
    timing, flow-run records and memory sampling, every SAMPLE s)."""

    def __init__(self, svc: Any, gib: int) -> None:
        super().__init__(svc, gib * GIB)
        self.sample = SAMPLE

    def create(self) -> Path:
        """A new volume of ``gib`` GiB; the path of its file."""
        body = {"volume": {"size": self.gib, "name": f"bench-memory-{self.gib}g"}}
        volume = self.api.post("volumes", body)["volume"]
        volume = self.wait("volume", volume["id"], {"available", "error"})
        if volume["status"] != "available":
            raise fsimage.BenchError(f"volume {volume['id']} ended in {volume['status']}")
        self.volume_id = volume["id"]
        self.path = Path(volume["metadata"]["safehold:path"])
        return self.path

    def restore(self) -> dict[str, Any]:
        """The last backup into a new volume until it is available; compared with the
        source volume's file."""
        backup_id = self.backups[-1]
        body = {"restore": {"name": f"bench-memory-{self.gib}g-restored"}}
        cold = data.drop_caches()
        with fsimage.RssSampler(self.svc.pid, self.sample) as sampler:
            posted = datetime.now(UTC)
            start = time.perf_counter()
            restore = self.api.post(f"backups/{backup_id}/restore", body)["restore"]
            statuses = {"available", "error", "error_restoring"}
            volume = self.wait("volume", restore["volume_id"], statuses)
            seconds = time.perf_counter() - start
        if volume["status"] != "available":
            raise fsimage.BenchError(f"restore into {volume['id']} ended in {volume['status']}")
        self.wait("backup", backup_id, {"available", "error"})
        self.runs.append(("restore", self._flow_run_id(backup_id), posted))
        path = Path(volume["metadata"]["safehold:path"])
        verify = time.perf_counter()
        if not same_file(self.path, path):
            raise fsimage.BenchError(f"restored volume file {path} differs from {self.path}")
        return {
            "seconds": seconds,
            "cold_cache": cold,
            "equal": True,
            "verify_seconds": time.perf_counter() - verify,
            "restored_allocated_bytes": data.allocated(path),
            "volume_id": volume["id"],
            "rss": sampler.result(),
        }


# --- the section -----------------------------------------------------------------------------


def _one_size(svc: Any, filler: Filler, gib: int) -> dict[str, Any]:
    """Fill, back up, restore one volume of ``gib`` GiB; a failed step is recorded."""
    result: dict[str, Any] = {"gib": gib}
    volume = Volume(svc, gib)
    try:
        path = volume.create()
        print(f"  {gib} GiB: filling ...", end="", flush=True)
        result["fill"] = filler.fill(path, gib * GIB, SEED + gib)
        print(f" {result['fill']['seconds']:.1f} s; backup ...", end="", flush=True)
        result["backup"] = volume.backup("full")
        print(f" {result['backup']['seconds']:.1f} s; restore ...", end="", flush=True)
        result["restore"] = volume.restore()
        print(f" {result['restore']['seconds']:.1f} s", flush=True)
    except Exception as exc:
        print(" FAILED", flush=True)
        traceback.print_exc()
        result["error"] = f"{type(exc).__name__}: {exc}"[:1500]
    for step, run in volume.flow_runs().items():
        key = "backup" if step == "full" else step
        if key in result:
            result[key]["flow_run"] = run
    return result


def measure(workdir: Path) -> dict[str, Any]:
    """Every size in one service; the raw and derived results."""
    out: dict[str, Any] = {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "loadavg_start": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
        "sizes_gib": sizes_gib(),
        "sample_seconds": SAMPLE,
        "limit_bytes": LIMIT_BYTES,
        "growth_limit": GROWTH_LIMIT,
        "notes": NOTES,
        "sizes": [],
    }
    start = time.perf_counter()
    try:
        filler = Filler()
        with fsimage.service(workdir, out, "memory") as svc:
            for gib in out["sizes_gib"]:
                out["sizes"].append(_one_size(svc, filler, gib))
    except Exception as exc:
        traceback.print_exc()
        out["error"] = f"{type(exc).__name__}: {exc}"[:1500]
        out["log_tails"] = shares.log_tails(workdir / "memory-service")
    finally:
        shutil.rmtree(workdir / "memory-service", ignore_errors=True)
    out["loadavg_end"] = os.getloadavg()[0]
    out["section_seconds"] = time.perf_counter() - start
    derive(out)
    return out


def failed(result: dict[str, Any]) -> list[str]:
    """Every error of the section, empty when all went well (the verdict is not an error)."""
    errors = [f"section: {result['error']}"] if "error" in result else []
    errors += [f"{s['gib']} GiB: {s['error']}" for s in result.get("sizes", []) if "error" in s]
    return errors


# --- derived numbers and the table -----------------------------------------------------------


def _proc(step: dict[str, Any] | None) -> dict[str, Any]:
    proc = (step or {}).get("rss", {}).get("process")
    return proc or {}


def derive(out: dict[str, Any]) -> None:
    """The verdict per step, in place: USS at the largest size against the limit, and its
    growth from the smallest size."""
    verdict: dict[str, Any] = {}
    for step in STEPS:
        measured = [
            (s["gib"], _proc(s.get(step)))
            for s in out.get("sizes", [])
            if _proc(s.get(step)).get("uss_max_bytes")
        ]
        if not measured:
            verdict[step] = {"error": "no flow-run process measured"}
            continue
        (small_gib, small), (large_gib, large) = measured[0], measured[-1]
        uss = large["uss_max_bytes"]
        v: dict[str, Any] = {
            "largest_gib": large_gib,
            "smallest_gib": small_gib,
            "uss_bytes": uss,
            "uss_bound_bytes": large.get("uss_bound_bytes"),
            "vm_hwm_bytes": large["vm_hwm_bytes"],
            "pss_bytes": large.get("pss_max_bytes"),
            "uss_within_limit": uss <= LIMIT_BYTES,
            "vm_hwm_within_limit": large["vm_hwm_bytes"] <= LIMIT_BYTES,
        }
        if large_gib > small_gib:
            growth = uss / small["uss_max_bytes"] - 1
            v["uss_growth"] = growth
            v["uss_flat"] = growth <= GROWTH_LIMIT
            v["vm_hwm_growth"] = large["vm_hwm_bytes"] / small["vm_hwm_bytes"] - 1
        verdict[step] = v
    out["verdict"] = verdict


def _num(value: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def _mib(value: float | None) -> str:
    return _num(value / MIB if value else None, "{:.0f}")


def _row(size: dict[str, Any], step: str) -> str:
    s = size.get(step)
    if not s:
        return f"  {size['gib']:>4}  {step:<8}not measured"
    proc = _proc(s)
    parent = proc.get("parent") or {}
    written = size.get("fill", {}).get("written_bytes")
    mb_s = written / 1e6 / s["seconds"] if written and s.get("seconds") else None
    stored = _mib(s.get("stored_bytes")) if step == "backup" else "-"
    check = "equal" if s.get("equal") else ""
    if "restored_allocated_bytes" in s:
        check += f", {s['restored_allocated_bytes'] / MIB:.0f} MiB allocated"
    return (
        f"  {size['gib']:>4}  {step:<8}{_num(s.get('seconds'), '{:.2f}'):>8}{_num(mb_s):>9}"
        f"{stored:>8}{_mib(proc.get('vm_hwm_bytes')):>7}{_mib(proc.get('uss_max_bytes')):>6}"
        f"{_mib(proc.get('uss_bound_bytes')):>7}{_mib(proc.get('pss_max_bytes')):>6}"
        f"{_mib(parent.get('vm_rss_first_bytes')):>10}{proc.get('samples', 0):>8}  {check}"
    ).rstrip()


def _table(out: dict[str, Any]) -> list[str]:
    head = (
        f"  {'GiB':>4}  {'step':<8}{'seconds':>8}{'MB/s':>9}{'stored':>8}{'VmHWM':>7}"
        f"{'USS':>6}{'USS<=':>7}{'PSS':>6}{'fork srv':>10}{'samples':>8}  verified"
    )
    lines = [head, "  " + "-" * (len(head) - 2)]
    for size in out.get("sizes", []):
        fill = size.get("fill")
        if fill:
            kinds = fill["bytes_by_kind"]
            lines.append(
                f"  {size['gib']:>4}  filled {fill['written_bytes'] / MIB:.0f} MiB "
                f"({fill['written_fraction']:.0%}: random {kinds['random'] / MIB:.0f}, text "
                f"{kinds['text'] / MIB:.0f}, zeros {kinds['zeros'] / MIB:.0f} MiB) in "
                f"{fill['regions']} regions, the rest holes; {fill['seconds']:.1f} s, untimed"
            )
        for step in STEPS:
            lines.append(_row(size, step))
        if "error" in size:
            lines.append(f"  !! {size['gib']} GiB FAILED: {size['error'][:600]}")
    return lines


def _verdict_lines(out: dict[str, Any]) -> list[str]:
    lines = []
    limit = LIMIT_BYTES / 10**6
    for step, v in out.get("verdict", {}).items():
        if "error" in v:
            lines.append(f"  {step:<8}no verdict: {v['error']}")
            continue
        within = "yes" if v["uss_within_limit"] else "NO"
        line = (
            f"  {step:<8}peak USS at {v['largest_gib']} GiB {v['uss_bytes'] / 1e6:.0f} MB "
            f"({v['uss_bytes'] / MIB:.0f} MiB) <= {limit:.0f} MB: {within}"
        )
        if "uss_growth" in v:
            flat = "flat" if v["uss_flat"] else "GROWS"
            line += (
                f"; {v['largest_gib']} vs {v['smallest_gib']} GiB {v['uss_growth']:+.1%} "
                f"(<= +{GROWTH_LIMIT:.0%}): {flat}"
            )
        hwm = "yes" if v["vm_hwm_within_limit"] else "no"
        line += f"  [VmHWM {v['vm_hwm_bytes'] / 1e6:.0f} MB <= {limit:.0f} MB: {hwm}"
        if "vm_hwm_growth" in v:
            line += f", {v['vm_hwm_growth']:+.1%}"
        lines.append(line + "]")
    return lines


def _flow_lines(out: dict[str, Any]) -> list[str]:
    lines = []
    for size in out.get("sizes", []):
        for step in STEPS:
            s = size.get(step)
            if not s:
                continue
            run = s.get("flow_run", {})
            body = run.get("body_seconds")
            timing = f"flow body {body:.2f} s" if body is not None else "flow body -"
            lines.append(f"  {size['gib']:>4} {step:<8}{timing}; {fsimage.memory_line(_proc(s))}")
    return lines


def render(out: dict[str, Any]) -> str:
    """The section as a table (or the reason it did not run)."""
    if "sizes" not in out:
        return f"\nmemory: {out.get('error') or out.get('skipped') or 'not run'}"
    svc = out.get("service", {})
    lines = [
        "",
        f"Memory against volume size: {', '.join(f'{g} GiB' for g in out['sizes_gib'])}; "
        f"{out.get('cpu_count')} CPUs; 1-min load {out['loadavg_start']:.2f} at start, "
        f"{out.get('loadavg_end', float('nan')):.2f} at end; service start-up "
        f"{_num(svc.get('startup_seconds'))} s; section "
        f"{_num(out.get('section_seconds'), '{:.0f}')} s",
    ]
    if "error" in out:
        lines.append(f"  !! SECTION FAILED: {out['error'][-1200:]}")
    lines += [
        "",
        "Full backup and its restore per size (MB/s: of the written bytes; stored, VmHWM, "
        "USS, PSS, fork srv: MiB; see notes)",
        *_table(out),
        "",
        "Verdict (issue 10 item 7: <= 150 MB at 4 GiB, not growing with the volume)",
        *_verdict_lines(out),
        "",
        "Flow-run processes",
        *_flow_lines(out),
        "",
        "Notes",
        *[f"  - {note}" for note in out.get("notes", [])],
    ]
    return "\n".join(lines)


SECTION = sections.Section(
    "memory",
    "memory of backup and restore against volume size (safehold Cinder API)",
    measure,
    render,
    failed,
    RESULTS,
)
run, section, only = SECTION.run, SECTION.section, SECTION.only
