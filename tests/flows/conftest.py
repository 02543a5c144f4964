"""Flow-side fixtures without a Prefect server: the catalog the flows' context opens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from flows import context
from storage import catalog
from storage.catalog import Volume


@pytest.fixture
def flow_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Session]:
    """A migrated SQLite catalog that flows.context's settings point at (data in tmp_path)."""
    url = f"sqlite:///{tmp_path}/catalog.db"
    monkeypatch.setenv("SAFEHOLD_CATALOG_URL", url)
    monkeypatch.setenv("SAFEHOLD_DATA_DIR", str(tmp_path))
    context.settings.cache_clear()
    engine = catalog.make_engine(url)
    catalog.migrate(engine)
    with Session(engine) as s:
        yield s
    context.settings.cache_clear()


@pytest.fixture
def volume(flow_catalog: Session, tmp_path: Path) -> Volume:
    """An available 1 GiB volume of project "p", user "u"."""
    return catalog.create_volume(
        session=flow_catalog,
        project_id="p",
        user_id="u",
        size_gb=1,
        volumes_dir=tmp_path,
        status="available",
    )
