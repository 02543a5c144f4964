"""Client construction and polling helpers for the end-to-end tests."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cinderclient import client as cinder_client
from cinderclient.contrib.noauth import CinderNoAuthPlugin
from keystoneauth1 import session as ks_session

MIB = 1024 * 1024
TIMEOUT = 120.0


def cinder(url: str, user: str, project: str) -> Any:
    """python-cinderclient with the noauth plugin, as CLIENTS.md describes."""
    auth = CinderNoAuthPlugin(user_id=user, project_id=project, endpoint=url + "/v3")
    return cinder_client.Client("3.64", session=ks_session.Session(auth=auth))


def wait_for(get: Callable[[], Any], statuses: set[str], timeout: float = TIMEOUT) -> Any:
    """Poll get() until its .status is in statuses; fail on timeout with the last status."""
    deadline = time.monotonic() + timeout
    obj = get()
    while obj.status not in statuses:
        if time.monotonic() > deadline:
            raise AssertionError(f"{obj.id} stuck in {obj.status}, wanted {statuses}")
        time.sleep(0.3)
        obj = get()
    return obj


def write_mixed(path: Path, size: int, seed: int) -> None:
    """Fill the first `size` bytes with random, text and zero regions (reproducible)."""
    rng = random.Random(seed)
    with open(path, "r+b") as f:
        offset = 0
        while offset < size:
            length = min(rng.choice([MIB // 2, MIB, 3 * MIB]) + rng.randrange(4096), size - offset)
            kind = rng.randrange(3)
            if kind == 0:
                data = rng.randbytes(length)
            elif kind == 1:
                line = f"line {offset} of some very compressible text\n".encode()
                data = (line * (length // len(line) + 1))[:length]
            else:
                data = bytes(length)
            os.pwrite(f.fileno(), data, offset)
            offset += length


def allocated(path: Path) -> int:
    """Bytes actually allocated on disk for a file."""
    return os.stat(path).st_blocks * 512
