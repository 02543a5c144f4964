"""Fixtures shared by every test package, and how `pytest -n` groups the end-to-end tests."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

E2E = Path(__file__).parent / "e2e"
S3_BUCKET = "safehold-test"
S3_CREDENTIALS = {"key": "testing", "secret": "testing"}
S3_REGION = "us-east-1"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[tuple[str, str]]:
    """moto's standalone S3 server on a free local port with one bucket: (endpoint, bucket)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # Credentials are passed explicitly, never through the process environment.
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_CREDENTIALS["key"],
        aws_secret_access_key=S3_CREDENTIALS["secret"],
        region_name=S3_REGION,
    )
    client.create_bucket(Bucket=S3_BUCKET)
    try:
        yield endpoint, S3_BUCKET
    finally:
        server.stop()


@pytest.fixture
def s3_options(s3_server: tuple[str, str]) -> dict[str, object]:
    """fsspec/s3fs options for the moto endpoint (dummy credentials, fixed region)."""
    return {
        "endpoint_url": s3_server[0],
        **S3_CREDENTIALS,
        "client_kwargs": {"region_name": S3_REGION},
    }


# -- `pytest -n 2 --dist loadgroup` (the Makefile's `test`): one worker per live service ---
#
# A `safehold run` tree costs seconds of both cores to start, so each must start on one
# worker only: every test using the session's `service` (tests/e2e/conftest.py) is one
# group, each other end-to-end module (it starts services of its own) a group, and every
# other test is scheduled on its own. xdist's `xdist_group` marks cannot say this (nor
# work with this pytest: xdist 3.8 renames nodes through an attribute pytest 9.2 no longer
# reads), and its controller collects nothing: the workers, which collect, write the
# groups to a file named after the controller's pid, read when scheduling starts.


def _group(item: pytest.Item) -> str | None:
    if "service" in getattr(item, "fixturenames", ()):
        return "e2e-service"
    if item.path.is_relative_to(E2E):
        return f"e2e-{item.path.stem}"
    return None


def _groups_file(controller_pid: int) -> Path:
    return Path(tempfile.gettempdir()) / f"safehold-xdist-groups-{controller_pid}.json"


# What a worker's environment must hold as the controller's os.environ does: `import
# readline` in the controller exports COLUMNS/LINES at the C level only, which the workers
# inherit, and a CLI under test would then draw 80-column tables where a serial run does not.
TERMINAL_ENV = ("COLUMNS", "LINES")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    node.workerinput["safehold_terminal_env"] = {k: os.environ.get(k) for k in TERMINAL_ENV}


def pytest_configure(config: pytest.Config) -> None:
    workerinput = getattr(config, "workerinput", {})
    for name, value in workerinput.get("safehold_terminal_env", {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.hookimpl(trylast=True)  # the final node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not (hasattr(config, "workerinput") and config.getvalue("loadgroup")):
        return  # not an xdist worker of `--dist loadgroup` (the only reader of the file)
    path = _groups_file(os.getppid())
    partial = path.with_name(f"{path.name}.{os.getpid()}")
    partial.write_text(json.dumps({i.nodeid: g for i in items if (g := _group(i))}))
    os.replace(partial, path)  # the workers' collections (and files) are identical


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup`: xdist's scope scheduler over the groups above (largest first)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ServiceGroups(LoadScopeScheduling):  # type: ignore[misc]
        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:  # first called once every worker has collected
                path = _groups_file(os.getpid())
                try:
                    self.groups = json.loads(path.read_text())
                    path.unlink()
                except FileNotFoundError:  # workers without this conftest: no groups
                    self.groups = {}
            return self.groups.get(nodeid, nodeid)

    return ServiceGroups(config, log)
