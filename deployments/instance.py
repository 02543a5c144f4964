"""One `safehold run` per data dir, and nothing of its process tree left behind.

- ``claim_data_dir`` takes an exclusive lock on ``<data>/safehold.lock`` for the
  supervisor's lifetime; the file names the holder's pid and ports. A second start on the
  same data dir is refused with them, instead of failing later on a port or a database.
- Every process of the tree carries ``IN_SAFEHOLD_TREE=<data dir>`` in its environment
  (the children get it from the supervisor, the flow-run processes from the runner; not a
  ``SAFEHOLD_`` name, which the Prefect server's environment is stripped of).
  ``leftovers`` finds the live ones that are not this process or one of its ancestors:
  what an earlier supervisor on this data dir left running. ``stop_leftovers`` ends them,
  so that a start after ``kill -9`` works at once. No pidfile: the environment marker
  also finds grandchildren, and a live process that carries it cannot be a reused pid.
- ``die_with_parent`` (Linux prctl PR_SET_PDEATHSIG) makes a process receive a signal
  when the process that started it dies, however it dies.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Final

LOCK_NAME: Final = "safehold.lock"
TREE_MARKER: Final = "IN_SAFEHOLD_TREE"
_PR_SET_PDEATHSIG: Final = 1
_GRACE: Final = 5.0


def _load_prctl() -> Any:
    """libc's prctl, resolved once here: never between fork and exec."""
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(None, use_errno=True).prctl


_PRCTL: Final = _load_prctl()


class DataDirBusy(Exception):
    """Another live `safehold run` holds the data dir."""


def claim_data_dir(data_dir: Path, **ports: str) -> IO[str]:
    """Lock the data dir for this process, recording its pid and ``ports`` (name=address);
    keep the returned file open. DataDirBusy names the holder when another has it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = open(data_dir / LOCK_NAME, "a+", encoding="utf-8")  # noqa: SIM115  (held for life)
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = _describe_holder(lock.read())
        lock.close()
        raise DataDirBusy(
            f"another safehold run ({holder}) is using data dir {data_dir}; stop it first, "
            "or give this one its own SAFEHOLD_DATA_DIR and ports"
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(json.dumps({"pid": os.getpid(), **ports}) + "\n")
    lock.flush()
    return lock


def _describe_holder(text: str) -> str:
    """'pid N, api 127.0.0.1:8776, …' from a lock file's record (best effort)."""
    try:
        record = json.loads(text)
    except ValueError:
        return f"pid {text.strip() or 'unknown'}"
    if not isinstance(record, dict):
        return "pid unknown"
    return ", ".join(f"{key} {value}" for key, value in record.items())


def tree_env(data_dir: Path) -> dict[str, str]:
    """The environment entry that marks a process as part of the tree on ``data_dir``."""
    return {TREE_MARKER: str(data_dir)}


def leftovers(data_dir: Path) -> list[int]:
    """Pids of live processes of a tree on ``data_dir``, other than this process and its
    ancestors."""
    marker = f"{TREE_MARKER}={data_dir}".encode()
    spared = _ancestors() | {os.getpid()}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in spared:
            continue
        if marker in _environ(int(entry.name)).split(b"\0") and not _zombie(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def stop_leftovers(data_dir: Path, grace: float = _GRACE) -> list[int]:
    """SIGTERM every leftover, SIGKILL what is left after ``grace`` seconds; the pids found."""
    pids = leftovers(data_dir)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            _signal(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _any_alive(pids):
            time.sleep(0.1)
        if not _any_alive(pids):
            break
    return pids


def die_with_parent(sig: int = signal.SIGKILL, parent: int | None = None) -> None:
    """Have the kernel send ``sig`` to this process when its parent dies (no-op off Linux);
    if ``parent`` (its expected pid) is already gone, die now. Safe between fork and exec."""
    if _PRCTL is None:
        return
    _PRCTL(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), sig)  # the parent died before the prctl took effect


def dies_with_this_process(sig: int = signal.SIGKILL) -> Callable[[], None]:
    """A Popen ``preexec_fn``: the child gets ``sig`` when this process dies."""
    parent = os.getpid()

    def preexec() -> None:
        die_with_parent(sig, parent)

    return preexec


def _ancestors() -> set[int]:
    pids: set[int] = set()
    pid = os.getppid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        pid = _ppid(pid)
    return pids


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: state, ppid, …; [] when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return []


def _ppid(pid: int) -> int:
    fields = _stat_fields(pid)
    return int(fields[1]) if len(fields) > 1 else 0


def _zombie(pid: int) -> bool:
    fields = _stat_fields(pid)
    return not fields or fields[0] in ("Z", "X")


def _any_alive(pids: list[int]) -> bool:
    return any(not _zombie(pid) for pid in pids)


def _environ(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""  # gone, or not ours to read


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
