"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

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
