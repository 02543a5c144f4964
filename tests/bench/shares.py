"""Share (directory-tree) backups: Safehold's Manila API against restic and borg.

For each tree of tests/bench/trees.py ("mixed", "small"), made once inside a Safehold share
(or a plain directory when Safehold cannot run), all three tools back up the same path:

  full backup -> ~2 % change (trees.change) -> incremental -> restore of the incremental
  into an empty directory (Safehold: an empty second share, microversion 2.91), verified
  against the changed source by a content + mode walk (a mismatch fails the tool loudly).

Safehold is timed as a user sees it: from the python-manilaclient call until the backup is
``available`` (restore: available again with ``restore_progress`` 100); restic and borg by
their command's wall clock. The page cache is dropped before every timed step.
Objects and stored bytes: files and bytes the step added to the repository (restic, borg)
or to Safehold's store prefix ``<data_dir>/backups/shares/<share_id>/``.

Environment: SAFEHOLD_BENCH_TREE_MIB (mixed tree size, default 700),
SAFEHOLD_BENCH_SMALL_FILES (small tree file count, default 100000).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import os
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from tests.bench import data, peers, report, trees

PROJECT = "bench0000000000000000000000000002"
MICROVERSION = "2.91"
POLL = 0.2
TIMEOUT = 3 * 3600.0
GIB = 1 << 30
PEERS = ("restic", "borg")
_PROBE = "import api.manila.app, storage.format.tree"

NOTES = [
    "share section: every tool backs up the same directory (the Safehold share's export "
    "path); Safehold is timed from the manilaclient call until 'available' (orchestration "
    "included), restic/borg by command wall clock; the page cache is dropped before each step",
    "incremental = second backup after the seeded ~2 % change; restore = the incremental "
    "into an empty directory (Safehold: an empty second share, 2.91), verified by a "
    "content + mode walk against the changed source",
    "objects / stored = files / bytes the step added to the repository (restic, borg) or to "
    "Safehold's store prefix backups/shares/<share_id>/; incr/changed = incremental stored "
    "bytes over bytes the change wrote",
    "restic: repo v2, compression auto, encrypted; borg: --encryption=none, zstd,3",
]


class Tool(Protocol):
    """One backup tool driven over one tree."""

    name: str

    def describe(self) -> dict[str, Any]: ...

    def backup(self, label: str) -> dict[str, Any]: ...

    def restore(self, expected: trees.Snapshot) -> dict[str, Any]: ...


def manila_missing() -> str | None:
    """None when Safehold's Manila API and tree format import (probed in a fresh process)."""
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=False
    )
    if probe.returncode == 0:
        return None
    lines = probe.stderr.strip().splitlines()
    return lines[-1] if lines else f"probe exited with {probe.returncode}"


def usage(root: Path) -> tuple[int, int]:
    """(files, bytes) under ``root``; (0, 0) when it does not exist."""
    files = total = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
                files += 1
    return files, total


def _growth(root: Path, before: tuple[int, int]) -> dict[str, int]:
    files, total = usage(root)
    return {
        "objects": files - before[0],
        "stored_bytes": total - before[1],
        "repo_objects": files,
        "repo_bytes": total,
    }


def _tail(text: str, lines: int = 8) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


def _cmd(argv: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> str:
    proc = subprocess.run(list(argv), env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise peers.PeerError(
            f"{' '.join(argv[:3])} exited {proc.returncode}: {_tail(proc.stderr)}"
        )
    return proc.stdout


def _timed(fn: Callable[[], object]) -> tuple[float, bool]:
    """Drop the page cache, run ``fn``; (seconds, whether the drop worked)."""
    cold = data.drop_caches()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start, cold


# --- restic and borg -------------------------------------------------------------------


class Restic:
    """restic on one tree: a local v2 repository, backups of ``source``, restore latest."""

    name = "restic"

    def __init__(self, workdir: Path, tree: str, source: Path) -> None:
        self.binary = peers.ensure_tool("restic", "restic")
        self.workdir, self.source = workdir, source
        self.repo = workdir / f"share-{tree}-restic-repo"
        self.env = {
            **os.environ,
            "RESTIC_REPOSITORY": str(self.repo),
            "RESTIC_CACHE_DIR": str(workdir / f"share-{tree}-restic-cache"),
            "RESTIC_PASSWORD": peers.RESTIC_PASSWORD,
            "RESTIC_PROGRESS_FPS": "0.1",
        }
        init = [self.binary, "init", "--quiet"]
        if "--repository-version" in self._help("init"):
            init += ["--repository-version", "2"]
        _cmd(init, self.env)

    def _help(self, command: str) -> str:
        argv = [self.binary, command, "--help"]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        return proc.stdout + proc.stderr

    def describe(self) -> dict[str, Any]:
        version = _cmd([self.binary, "version"], self.env).strip()
        return {"version": version, "settings": "repo v2, compression auto, AES-256 + Poly1305"}

    def backup(self, label: str) -> dict[str, Any]:
        argv = [self.binary, "backup", "--quiet", "--host", "bench", "--tag", label]
        before = usage(self.repo)
        seconds, cold = _timed(lambda: _cmd([*argv, str(self.source)], self.env))
        return {"seconds": seconds, "cold_cache": cold, **_growth(self.repo, before)}

    def restore(self, expected: trees.Snapshot) -> dict[str, Any]:
        target = self.workdir / "share-restic-restore"
        argv = [self.binary, "restore", "latest", "--quiet", "--target", str(target)]
        seconds, cold = _timed(lambda: _cmd(argv, self.env))
        try:
            entries = trees.verify(expected, target / self.source.relative_to("/"))
        finally:
            shutil.rmtree(target, ignore_errors=True)
        return {"seconds": seconds, "cold_cache": cold, "verified_entries": entries}


class Borg:
    """borg on one tree: an unencrypted repository, one archive per backup, extract last."""

    name = "borg"

    def __init__(self, workdir: Path, tree: str, source: Path) -> None:
        self.binary = peers.ensure_tool("borg", "borgbackup")
        self.workdir, self.source = workdir, source
        self.repo = workdir / f"share-{tree}-borg-repo"
        self.env = {
            **os.environ,
            "BORG_BASE_DIR": str(workdir / f"share-{tree}-borg-home"),
            "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
            "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
        }
        self.last = ""
        _cmd([self.binary, "init", "--encryption=none", str(self.repo)], self.env)

    def describe(self) -> dict[str, Any]:
        version = _cmd([self.binary, "--version"], self.env).strip()
        return {"version": version, "settings": "--encryption=none, zstd,3, buzhash chunker"}

    def backup(self, label: str) -> dict[str, Any]:
        self.last = label
        argv = [self.binary, "create", "--compression", "zstd,3", f"{self.repo}::{label}"]
        before = usage(self.repo)
        seconds, cold = _timed(lambda: _cmd([*argv, str(self.source)], self.env))
        return {"seconds": seconds, "cold_cache": cold, **_growth(self.repo, before)}

    def restore(self, expected: trees.Snapshot) -> dict[str, Any]:
        target = self.workdir / "share-borg-restore"
        target.mkdir()
        argv = [self.binary, "extract", f"{self.repo}::{self.last}"]
        seconds, cold = _timed(lambda: _cmd(argv, self.env, cwd=target))
        try:
            entries = trees.verify(expected, target / self.source.relative_to("/"))
        finally:
            shutil.rmtree(target, ignore_errors=True)
        return {"seconds": seconds, "cold_cache": cold, "verified_entries": entries}


# --- Safehold through python-manilaclient ----------------------------------------------


class SafeholdError(RuntimeError):
    """A Safehold share or share backup ended in error (the message names why)."""


class Manila:
    """python-manilaclient against a running Safehold (``tests.live.running``)."""

    def __init__(self, svc: Any) -> None:
        from manilaclient import api_versions, client

        self.svc = svc
        self.client = client.Client(
            api_versions.APIVersion(MICROVERSION),
            input_auth_token=f"admin:{PROJECT}",
            service_catalog_url=svc.manila_url + "/v2",
        )
        self.store = Path(svc.data_dir) / "backups" / "shares"

    def wait(self, get: Callable[[], Any], done: Callable[[Any], bool]) -> tuple[Any, float]:
        """Poll ``get`` every POLL s until ``done`` (or status error); (object, seconds)."""
        start = time.perf_counter()
        while True:
            obj = get()
            if done(obj) or "error" in str(obj.status):
                return obj, time.perf_counter() - start
            if time.perf_counter() - start > TIMEOUT:
                raise TimeoutError(f"{obj.id} stuck in {obj.status}")
            time.sleep(POLL)

    def create_share(self, name: str, size_gb: int) -> tuple[Any, Path]:
        """An available share and its export path."""
        created = self.client.shares.create("NFS", size_gb, name=name)
        share, _ = self.wait(lambda: self.client.shares.get(created.id), _available)
        if share.status != "available":
            raise SafeholdError(f"share {share.id} ended in {share.status}")
        [location] = self.client.share_export_locations.list(share)
        return share, Path(location.path)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the service's log (for error reports)."""
        try:
            return "\n".join(Path(self.svc.log).read_text().splitlines()[-lines:])
        except OSError as exc:
            return f"(log unreadable: {exc})"


def log_tails(data_dir: Path, lines: int = 25) -> dict[str, str]:
    """The last lines of the service's logs (safehold-run.log, logs/*.log), by file name."""
    tails = {}
    for path in [data_dir / "safehold-run.log", *sorted(data_dir.glob("logs/*.log"))]:
        with contextlib.suppress(OSError):
            tails[path.name] = "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return tails


def _available(obj: Any) -> bool:
    return bool(obj.status == "available")


class Safehold:
    """Share backups of one share through the Manila API; restores into a new share."""

    name = "safehold"

    def __init__(self, manila: Manila, tree: str, share: Any, size_gb: int) -> None:
        self.manila, self.m = manila, manila.client
        self.tree, self.share, self.size_gb = tree, share, size_gb
        self.store = manila.store / share.id
        self.backups: list[Any] = []

    def describe(self) -> dict[str, Any]:
        return {"version": f"Manila API {MICROVERSION}", "settings": "service defaults"}

    def backup(self, label: str) -> dict[str, Any]:
        before = usage(self.store)
        created: list[Any] = []
        seconds, cold = _timed(lambda: created.append(self._backup_until_available(label)))
        backup = created[0]
        self.backups.append(backup)
        _, share_wait = self.manila.wait(lambda: self.m.shares.get(self.share.id), _available)
        result: dict[str, Any] = {"seconds": seconds, "cold_cache": cold}
        result.update(_growth(self.store, before))
        result.update(
            id=backup.id,
            api_size_gb=getattr(backup, "size", None),
            api_stored_bytes=getattr(backup, "stored_bytes", None),
            share_available_after_s=share_wait,
            flow_runs=flow_runs(self.manila.svc.prefect_api, [backup.id], "create"),
            manifest_stats=self._manifest_stats(backup.id),
        )
        return result

    def _manifest_stats(self, backup_id: str) -> dict[str, Any]:
        """The counters the backup's manifest records (bytes read / reused, chunks)."""
        try:
            from storage.format.tree import read_tree_manifest
            from storage.objects import open_store

            store = open_store(f"file://{self.manila.store.parent}")
            manifest = read_tree_manifest(store, share_id=self.share.id, backup_id=backup_id)
            return manifest.stats.counters()
        except Exception as exc:  # diagnostics only
            return {"error": f"{type(exc).__name__}: {exc}"[:200]}

    def _backup_until_available(self, label: str) -> Any:
        created = self.m.share_backups.create(self.share, name=f"{self.tree}-{label}")
        backup, _ = self.manila.wait(lambda: self.m.share_backups.get(created.id), _available)
        if backup.status != "available":
            reason = getattr(backup, "fail_reason", None)
            raise SafeholdError(f"backup {backup.id} ended in {backup.status}: {reason}")
        return backup

    def restore(self, expected: trees.Snapshot) -> dict[str, Any]:
        backup = self.backups[-1]
        target, root = self.manila.create_share(f"{self.tree}-restore", self.size_gb)
        seconds, cold = _timed(lambda: self._restore_until_done(backup.id, target.id))
        _, share_wait = self.manila.wait(lambda: self.m.shares.get(target.id), _available)
        try:
            entries = trees.verify(expected, root)
        finally:
            with contextlib.suppress(Exception):
                self.m.shares.delete(target)
        return {
            "seconds": seconds,
            "cold_cache": cold,
            "verified_entries": entries,
            "share_available_after_s": share_wait,
            "flow_runs": flow_runs(self.manila.svc.prefect_api, [backup.id, target.id], "restore"),
        }

    def _restore_until_done(self, backup_id: str, target_id: str) -> None:
        self.m.share_backups.restore(backup_id, target_id)
        backup, _ = self.manila.wait(
            lambda: self.m.share_backups.get(backup_id),
            lambda b: b.status == "available" and str(b.restore_progress) == "100",
        )
        if backup.status != "available":
            reason = getattr(backup, "fail_reason", None)
            raise SafeholdError(f"restore of {backup_id} ended in {backup.status}: {reason}")


def flow_runs(prefect_api: str, ids: Sequence[str], word: str) -> list[dict[str, Any]]:
    """Prefect flow runs whose name holds ``word``, tagged with one of ``ids`` (as
    `share_backup:<id>` or `share:<id>`): how long each waited for the runner and ran."""
    try:
        return asyncio.run(_flow_runs(prefect_api, ids, word))
    except Exception as exc:  # diagnostics only
        return [{"error": f"{type(exc).__name__}: {exc}"[:200]}]


async def _flow_runs(prefect_api: str, ids: Sequence[str], word: str) -> list[dict[str, Any]]:
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    runs: dict[Any, Any] = {}
    tags = [f"{kind}:{i}" for i in ids for kind in ("share_backup", "share")]
    async with PrefectClient(prefect_api) as client:
        tagged = FlowRunFilter(tags=FlowRunFilterTags(any_=tags))
        for run in await client.read_flow_runs(flow_run_filter=tagged):
            if word in run.name:
                runs[run.id] = run
        ordered = sorted(runs.values(), key=lambda r: r.created)
        return [_flow_run(run, await _task_seconds(client, run.id)) for run in ordered]


async def _task_seconds(client: Any, flow_run_id: Any) -> dict[str, float]:
    """Run seconds of the flow run's tasks, summed by task name (e.g. write_tree_backup)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    flow_filter = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    seconds: dict[str, float] = {}
    for task in await client.read_task_runs(flow_run_filter=flow_filter):
        key = task.name.rsplit("-", 1)[0]  # "write_tree_backup-a1b" -> "write_tree_backup"
        seconds[key] = seconds.get(key, 0.0) + task.total_run_time.total_seconds()
    return seconds


def _flow_run(run: Any, tasks: dict[str, float]) -> dict[str, Any]:
    queued = None
    if run.start_time and run.created:
        queued = (run.start_time - run.created).total_seconds()
    return {
        "name": run.name,
        "state": run.state_name,
        "queued_seconds": queued,
        "run_seconds": run.total_run_time.total_seconds(),
        "task_seconds": tasks,
    }


# --- the section -----------------------------------------------------------------------


def _tree_specs() -> list[tuple[str, Callable[[Path], trees.TreeStats], int]]:
    """(name, generator, size estimate in bytes) of each tree, from the environment."""
    mixed = int(os.environ.get("SAFEHOLD_BENCH_TREE_MIB", "700")) * data.MIB
    small = int(os.environ.get("SAFEHOLD_BENCH_SMALL_FILES", "100000"))
    return [
        ("mixed", lambda root: trees.generate_mixed(root, mixed), mixed),
        ("small", lambda root: trees.generate_small(root, small), small * 8 * 1024),
    ]


def _share_size_gb(estimate: int) -> int:
    """Room for the tree, the change and file-system slack."""
    return math.ceil(estimate * 1.5 / GIB) + 1


def _attempt(result: dict[str, Any], key: str, fn: Callable[[], dict[str, Any]]) -> bool:
    """Run one tool step into ``result[key]``; on failure record the error and say False."""
    try:
        result[key] = fn()
    except Exception as exc:
        traceback.print_exc()
        result["error"] = f"{key}: {type(exc).__name__}: {exc}"[:1500]
        return False
    return True


def _tools(
    workdir: Path, name: str, root: Path, safehold: Safehold | None, skip: str
) -> tuple[list[Tool], dict[str, dict[str, Any]]]:
    """The tools that could start on this tree, and a result dict per tool."""
    results: dict[str, dict[str, Any]] = {}
    tools: list[Tool] = []
    if safehold is None:
        results["safehold"] = {"skipped": skip}
    else:
        tools.append(safehold)
        results["safehold"] = safehold.describe()
    for cls in (Restic, Borg):
        try:
            peer = cls(workdir, name, root)
            results[cls.name] = peer.describe()
            tools.append(peer)
        except Exception as exc:
            results[cls.name] = {"error": f"setup: {type(exc).__name__}: {exc}"[:1500]}
    return tools, results


def _phase(
    title: str, tools: list[Tool], results: dict[str, Any], fn: Callable[[Tool], Any]
) -> None:
    """One step for every tool still alive; a failed tool drops out of later steps."""
    for tool in list(tools):
        print(f"    {tool.name} {title} ...", end="", flush=True)
        ok = _attempt(results[tool.name], title, functools.partial(fn, tool))
        step = results[tool.name].get(title, {})
        print(f" {step.get('seconds', 0):.1f} s" if ok else " FAILED", flush=True)
        if not ok:
            tools.remove(tool)


def _place(
    workdir: Path, name: str, size_gb: int, manila: Manila | None, skip: str
) -> tuple[Safehold | None, Path, str]:
    """Where the tree goes: a new share (Safehold runs) or a plain directory (it cannot)."""
    if manila is None:
        return None, workdir / f"tree-{name}", skip
    try:
        share, root = manila.create_share(f"bench-{name}", size_gb)
    except Exception as exc:
        traceback.print_exc()
        reason = f"share create failed: {type(exc).__name__}: {exc}"[:1500]
        return None, workdir / f"tree-{name}", f"{reason}\n{manila.log_tail()}"
    return Safehold(manila, name, share, size_gb), root, skip


def run_tree(
    workdir: Path,
    name: str,
    build: Callable[[Path], trees.TreeStats],
    estimate: int,
    manila: Manila | None,
    skip: str,
) -> dict[str, Any]:
    """Generate one tree, back it up twice with every tool, restore and verify."""
    safehold, root, skip = _place(workdir, name, _share_size_gb(estimate), manila, skip)
    print(f"  tree {name!r}: generating in {root} ...", flush=True)
    start = time.perf_counter()
    stats = build(root)
    generated = time.perf_counter() - start
    tools, results = _tools(workdir, name, root, safehold, skip)
    _phase("full", tools, results, lambda t: t.backup("full"))
    changed = trees.change(root)
    changed["apparent_bytes_after"] = trees.apparent_bytes(root)
    expected = trees.snapshot(root)
    _phase("incremental", tools, results, lambda t: t.backup("incremental"))
    _phase("restore", tools, results, lambda t: t.restore(expected))
    if safehold is not None and "error" in results["safehold"]:
        results["safehold"]["log_tail"] = manila.log_tail() if manila else ""
    outcome = {
        "tree": {**vars(stats), "root": str(root), "generate_seconds": generated},
        "change": changed,
        "tools": results,
    }
    derive(outcome)
    return outcome


def derive(outcome: dict[str, Any]) -> None:
    """MB/s, incremental stored over changed bytes, and the Safehold/peer ratios, in place."""
    full_bytes = outcome["tree"]["bytes"]
    after = outcome["change"]["apparent_bytes_after"]
    changed = outcome["change"]["changed_bytes"]
    tools = outcome["tools"]
    for tool in tools.values():
        if "full" in tool:
            tool["full"]["mb_s"] = report.mb_s(full_bytes, tool["full"]["seconds"])
        if "incremental" in tool:
            tool["incremental"]["mb_s"] = report.mb_s(after, tool["incremental"]["seconds"])
            tool["incremental"]["stored_vs_changed"] = (
                tool["incremental"]["stored_bytes"] / changed if changed else None
            )
        if "restore" in tool:
            tool["restore"]["mb_s"] = report.mb_s(after, tool["restore"]["seconds"])
    outcome["ratios"] = {peer: _ratios(tools["safehold"], tools[peer]) for peer in PEERS}


def _ratios(own: dict[str, Any], peer: dict[str, Any]) -> dict[str, float | None]:
    """Speed ratios (peer seconds over Safehold's: >1 = Safehold faster) and stored ratios."""

    def get(tool: dict[str, Any], step: str, key: str) -> float | None:
        value = tool.get(step, {}).get(key)
        return float(value) if value is not None else None

    def over(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    out: dict[str, float | None] = {}
    for step in ("full", "incremental", "restore"):
        out[f"{step}_speed"] = over(get(peer, step, "seconds"), get(own, step, "seconds"))
    out["full_stored"] = over(get(own, "full", "stored_bytes"), get(peer, "full", "stored_bytes"))
    out["incremental_stored_vs_changed"] = over(
        get(own, "incremental", "stored_vs_changed"), get(peer, "incremental", "stored_vs_changed")
    )
    return out


@contextlib.contextmanager
def _service(workdir: Path) -> Iterator[tuple[Manila | None, dict[str, Any]]]:
    """A running Safehold and its Manila client, or None and why not."""
    info: dict[str, Any] = {}
    missing = manila_missing()
    if missing:
        info["skipped"] = f"Safehold Manila API not importable yet ({missing})"
        yield None, info
        return
    from tests.live import running

    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        try:
            svc = stack.enter_context(running(workdir / "shares-service"))
        except Exception as exc:  # the peers still run; the error (with the log) is reported
            traceback.print_exc()
            info["skipped"] = f"safehold run failed to start: {exc}"[-3000:]
            info["log_tails"] = log_tails(workdir / "shares-service")
            yield None, info
            return
        info["startup_seconds"] = time.perf_counter() - start
        info["data_dir"] = str(svc.data_dir)
        yield Manila(svc), info


def run(workdir: Path) -> dict[str, Any]:
    """Both trees with every tool; the raw and derived results."""
    load_start = os.getloadavg()[0]
    out: dict[str, Any] = {"trees": {}, "notes": NOTES, "loadavg_start": load_start}
    with _service(workdir) as (manila, info):
        out["service"] = info
        for name, build, estimate in _tree_specs():
            skip = info.get("skipped", "")
            out["trees"][name] = run_tree(workdir, name, build, estimate, manila, skip)
            _cleanup(workdir, name)
    out["loadavg_end"] = os.getloadavg()[0]
    out["cache_drop"] = data.drop_caches()
    return out


def _cleanup(workdir: Path, name: str) -> None:
    """The peers' repositories of a finished tree (disk space for the next one)."""
    for path in workdir.glob(f"share-{name}-*"):
        shutil.rmtree(path, ignore_errors=True)


def failed(result: dict[str, Any]) -> list[str]:
    """Every tool error of the section ('tree/tool: error'), empty when all went well."""
    errors = [f"section: {result['error']}"] if "error" in result else []
    for name, tree in result.get("trees", {}).items():
        for tool, outcome in tree.get("tools", {}).items():
            if "error" in outcome:
                errors.append(f"{name}/{tool}: {outcome['error']}")
    return errors


def render(result: dict[str, Any]) -> str:
    """The section's table (tests/bench/report.py draws it)."""
    return report.render_shares(result)
