"""One `safehold run` per data dir, and nothing of it left behind.

- ``claim_data_dir`` takes an exclusive lock on ``<data>/safehold.lock`` for the
  supervisor's lifetime: a second start on the same data dir is refused with the pid
  holding it, instead of failing later on a port or a database.
- ``leftovers`` finds processes an earlier, killed supervisor started on this data dir
  (its children carry ``PREFECT_HOME=<data>/prefect`` in their environment), and
  ``stop_leftovers`` ends them, so that a start after ``kill -9`` works at once.
- ``die_with_parent`` (Linux prctl PR_SET_PDEATHSIG) makes a child receive SIGTERM when
  the process that started it dies, however it dies.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import logging
import os
import signal
import time
from pathlib import Path
from typing import IO, Final

log = logging.getLogger("safehold")

LOCK_NAME: Final = "safehold.lock"
_PR_SET_PDEATHSIG: Final = 1
_GRACE: Final = 5.0


class DataDirBusy(Exception):
    """Another live `safehold run` holds the data dir."""


def claim_data_dir(data_dir: Path) -> IO[str]:
    """Lock the data dir for this process (keep the returned file open); DataDirBusy."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = open(data_dir / LOCK_NAME, "a+")  # noqa: SIM115  (held for the process lifetime)
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "unknown"
        lock.close()
        raise DataDirBusy(
            f"another safehold run (pid {holder}) is using data dir {data_dir}; stop it "
            "first, or give this one its own SAFEHOLD_DATA_DIR and ports"
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock


def _environ(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""  # gone, or not ours to read


def leftovers(data_dir: Path) -> list[int]:
    """Pids of live processes started for ``data_dir`` (other than this one)."""
    marker = f"PREFECT_HOME={data_dir / 'prefect'}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        if marker in _environ(int(entry.name)).split(b"\0"):
            found.append(int(entry.name))
    return sorted(found)


def stop_leftovers(data_dir: Path) -> list[int]:
    """SIGTERM, then SIGKILL after a grace period, every leftover; the pids found."""
    pids = leftovers(data_dir)
    if not pids:
        return []
    log.warning(
        "data dir %s: %d processes of an earlier safehold run are still running (pids %s); "
        "stopping them",
        data_dir,
        len(pids),
        " ".join(map(str, pids)),
    )
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + _GRACE
        while time.monotonic() < deadline and _alive(pids):
            time.sleep(0.1)
        if not _alive(pids):
            break
    return pids


def _alive(pids: list[int]) -> bool:
    return any(Path(f"/proc/{pid}").exists() and not _zombie(pid) for pid in pids)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


def die_with_parent() -> None:
    """Ask the kernel to SIGTERM this process when its parent dies (no-op off Linux).

    Runs in the child between fork and exec (Popen's preexec_fn), or in a process that
    wants to follow its parent.
    """
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    libc = ctypes.CDLL(libc_name, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
