"""The scale-out storage set-up end to end: backups on S3 (moto), catalog on PostgreSQL.

A second `safehold run` whose backup store is `s3://` through s3fs against moto's
standalone server and whose catalog is a fresh schema of the local PostgreSQL.
"""

from __future__ import annotations

import filecmp
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from sqlalchemy import text

from storage.catalog import make_engine
from tests.e2e.helpers import MIB, POLL, TIMEOUT, cinder, wait_for, write_mixed
from tests.live import Service, running
from tests.storage.catalog.conftest import PG_URL

pytestmark = [pytest.mark.e2e, pytest.mark.s3, pytest.mark.postgres]
PROJECT = "s3pg0000000000000000000000000001"
SECRET = f"s3cr3t-{uuid.uuid4().hex}"  # distinctive, so a leak would be found


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def s3_service(
    s3_server: tuple[str, str], prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    endpoint, bucket = s3_server
    schema = f"e2e_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    env = {
        "SAFEHOLD_BACKUP_URL": f"s3://{bucket}/{prefix}",
        "SAFEHOLD_S3_ENDPOINT_URL": endpoint,
        "SAFEHOLD_S3_ACCESS_KEY_ID": "e2e-key",
        "SAFEHOLD_S3_SECRET_ACCESS_KEY": SECRET,
        "SAFEHOLD_S3_REGION": "us-east-1",
        "SAFEHOLD_CATALOG_URL": f"{PG_URL}?options=-csearch_path%3D{schema}",
    }
    try:
        with running(tmp_path_factory.mktemp("safehold-s3"), env) as svc:
            yield svc
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _keys(s3_server: tuple[str, str], prefix: str) -> list[str]:
    endpoint, bucket = s3_server
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="k",
        aws_secret_access_key="s",
        region_name="us-east-1",
    )
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def _gone(get: Any) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            get()
        except Exception as exc:  # cinderclient's NotFound
            if getattr(exc, "code", None) == 404:
                return
            raise
        time.sleep(POLL)
    raise AssertionError("still there")


def test_chain_on_s3_with_postgres_catalog(
    s3_service: Service, s3_server: tuple[str, str], prefix: str
) -> None:
    admin = cinder(s3_service.url, "admin", PROJECT)
    vol = admin.volumes.create(size=1, name="s3")
    vol = wait_for(lambda: admin.volumes.get(vol.id), {"available"})
    path = Path(vol.metadata["safehold:path"])
    write_mixed(path, 16 * MIB, seed=21)
    full = admin.backups.create(vol.id)
    full = wait_for(lambda: admin.backups.get(full.id), {"available"})
    with open(path, "r+b") as f:
        f.seek(5 * MIB)
        f.write(b"changed" * 1000)
    incr = admin.backups.create(vol.id, incremental=True)
    incr = wait_for(lambda: admin.backups.get(incr.id), {"available", "error"})
    assert incr.status == "available", incr.fail_reason
    assert incr.is_incremental and admin.backups.get(full.id).has_dependent_backups

    keys = _keys(s3_server, prefix)
    assert f"{prefix}/backups/{full.id}/manifest" in keys
    assert f"{prefix}/backups/{incr.id}/manifest" in keys
    # The incremental stored one changed block: one segment besides its manifest.
    assert len([k for k in keys if k.startswith(f"{prefix}/backups/{incr.id}/")]) == 2

    restore = admin.restores.restore(incr.id)
    target = wait_for(lambda: admin.volumes.get(restore.volume_id), {"available", "error"})
    assert target.status == "available"
    assert filecmp.cmp(path, Path(target.metadata["safehold:path"]), shallow=False)

    export = admin.backups.export_record(full.id)
    logs = "".join(p.read_text(errors="replace") for p in s3_service.data_dir.rglob("*.log"))
    assert SECRET not in str(export) and SECRET not in logs

    admin.backups.delete(incr.id)
    _gone(lambda: admin.backups.get(incr.id))
    admin.backups.delete(full.id)
    _gone(lambda: admin.backups.get(full.id))
    assert _keys(s3_server, prefix) == []
