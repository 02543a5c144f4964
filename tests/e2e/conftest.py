"""One real Safehold per test session: `safehold run` (Prefect server, runner, API).

It carries every datastore (SQLite, this machine's PostgreSQL and, through a proxy a test
can take down, its MariaDB), so the Trove tests share it instead of starting their own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.helpers import datastore_env
from tests.e2e.tcp_proxy import Proxy
from tests.live import Service, running


@pytest.fixture(scope="session")
def mariadb() -> Iterator[Proxy]:
    """MariaDB as the session's service reaches it: through a proxy a test can take down."""
    proxy = Proxy(3306)
    proxy.up()
    yield proxy
    proxy.down()


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory, mariadb: Proxy) -> Iterator[Service]:
    """Start the whole process tree as `make run` does, on free ports, and stop it."""
    with running(tmp_path_factory.mktemp("safehold"), extra_env=datastore_env(mariadb.port)) as svc:
        yield svc
