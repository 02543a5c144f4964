"""One supervisor per data dir; leftovers of a killed tree found and stopped; children
that die with their parent; taken ports named (deployments.instance, supervisor)."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deployments.instance import DataDirBusy, claim_data_dir, leftovers, stop_leftovers, tree_env
from deployments.supervisor import taken_ports
from storage.settings import Settings
from tests.live import ROOT


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def _wait_gone(pid: int, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not _gone(pid):
        assert time.monotonic() < deadline, f"{pid} still alive"
        time.sleep(0.02)


def test_a_second_claim_is_refused_naming_the_holder(tmp_path: Path) -> None:
    lock = claim_data_dir(tmp_path, api="127.0.0.1:8776", prefect="http://127.0.0.1:4200/api")
    holder = f"pid {os.getpid()}, api 127.0.0.1:8776, prefect http://127.0.0.1:4200/api"
    with pytest.raises(DataDirBusy, match=f"another safehold run \\({holder}\\)"):
        claim_data_dir(tmp_path, api="127.0.0.1:9999", prefect="http://127.0.0.1:1/api")
    lock.close()  # the holder is gone: the lock is free at once
    claim_data_dir(tmp_path, api="127.0.0.1:9999", prefect="http://127.0.0.1:1/api").close()


def test_leftovers_of_the_data_dir_are_found_and_stopped(tmp_path: Path) -> None:
    other = tmp_path / "other"
    mine = subprocess.Popen(["sleep", "60"], env={**os.environ, **tree_env(tmp_path)})
    theirs = subprocess.Popen(["sleep", "60"], env={**os.environ, **tree_env(other)})
    try:
        assert leftovers(tmp_path) == [mine.pid]
        assert stop_leftovers(tmp_path, grace=2.0) == [mine.pid]
        assert mine.wait(timeout=2) < 0
        assert theirs.poll() is None and leftovers(other) == [theirs.pid]
    finally:
        theirs.kill()
        theirs.wait()


def test_a_start_never_counts_itself_or_its_ancestors(tmp_path: Path) -> None:
    probe = "from pathlib import Path; from deployments.instance import leftovers; "
    probe += f"print(leftovers(Path({str(tmp_path)!r})))"
    # sh stays the python's parent (it has a command after it), with the marker too.
    script = f"{shlex.quote(sys.executable)} -c {shlex.quote(probe)}; true"
    out = subprocess.run(
        ["sh", "-c", script],
        env={**os.environ, **tree_env(tmp_path)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "[]"


def test_a_child_dies_with_its_parent_however_it_dies() -> None:
    parent = (
        "import os, signal, subprocess\n"
        "from deployments.instance import dies_with_this_process\n"
        "child = subprocess.Popen(['sleep', '60'], preexec_fn=dies_with_this_process())\n"
        "print(child.pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", parent], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    _wait_gone(int(out.stdout))


def test_a_taken_port_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(
            data_dir=tmp_path, api_port=port, ui_port=0, manila_port=0, trove_port=0
        )
        problem = taken_ports(settings, external_server=False)
    assert problem == f"port {port} on 127.0.0.1 for the API (SAFEHOLD_API_PORT) is already in use"
    assert taken_ports(settings, external_server=False) is None
