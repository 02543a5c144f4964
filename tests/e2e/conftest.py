"""One real Safehold per test session: `safehold run` (Prefect server, runner, API)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.live import Service, running


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """Start the whole process tree as `make run` does, on free ports, and stop it."""
    with running(tmp_path_factory.mktemp("safehold")) as svc:
        yield svc
