"""One ObjectStore contract, run against memory://, file:// and S3 (moto's server)."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import botocore.exceptions
import pytest

from storage.errors import (
    InvalidKey,
    ObjectNotFound,
    PermanentStorageError,
    TransientStorageError,
)
from storage.faults import FaultyObjectStore
from storage.objects import ObjectStore, classify, open_store, open_store_from_settings
from storage.settings import Settings

BAD_KEYS = ["../x", "/abs", "A", "a//b", "", "a/", "a/../b", "a/./b", ".hidden", "a b", "x" * 1025]


@pytest.fixture(params=["memory", "file", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    """A fresh, empty store of each backend."""
    unique = uuid.uuid4().hex
    if request.param == "memory":
        return open_store(f"memory://contract-{unique}")
    if request.param == "file":
        return open_store(f"file://{tmp_path / 'store'}")
    _, bucket = request.getfixturevalue("s3_server")
    options: dict[str, Any] = request.getfixturevalue("s3_options")
    return open_store(f"s3://{bucket}/contract-{unique}", options)


def test_put_get_roundtrip(store: ObjectStore) -> None:
    store.put("backups/b1/manifest", b"hello")
    assert store.get("backups/b1/manifest") == b"hello"


def test_put_overwrites(store: ObjectStore) -> None:
    store.put("a/b", b"one")
    store.put("a/b", b"two-longer")
    assert store.get("a/b") == b"two-longer"


def test_empty_and_large_objects(store: ObjectStore) -> None:
    big = os.urandom(3 * 1024 * 1024 + 7)
    store.put("empty", b"")
    store.put("big", big)
    assert store.get("empty") == b""
    assert store.get("big") == big


def test_get_missing_is_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        store.get("no/such/key")


def test_get_of_a_prefix_is_not_found(store: ObjectStore) -> None:
    store.put("dir/obj", b"x")
    with pytest.raises(ObjectNotFound):
        store.get("dir")
    assert not store.exists("dir")


def test_get_range(store: ObjectStore) -> None:
    data = bytes(range(256)) * 4
    store.put("r", data)
    assert store.get_range("r", 0, 10) == data[:10]
    assert store.get_range("r", 100, 50) == data[100:150]
    assert store.get_range("r", 1000, 100) == data[1000:]  # clipped at the end
    assert store.get_range("r", 5000, 10) == b""
    assert store.get_range("r", 3, 0) == b""


def test_get_range_missing_is_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        store.get_range("missing", 0, 10)


def test_exists(store: ObjectStore) -> None:
    assert not store.exists("x/y")
    store.put("x/y", b"1")
    assert store.exists("x/y")
    store.delete("x/y")
    assert not store.exists("x/y")


def test_list_is_sorted_recursive_and_prefix_filtered(store: ObjectStore) -> None:
    keys = ["backups/b2/manifest", "backups/b1/segments/00000001", "backups/b1/manifest"]
    for key in [*keys, "other/thing", "backups/b10/manifest"]:
        store.put(key, b".")
    assert store.list("backups/b1/") == ["backups/b1/manifest", "backups/b1/segments/00000001"]
    assert store.list("backups/") == sorted([*keys, "backups/b10/manifest"])
    assert store.list("backups/b1") == [
        "backups/b1/manifest",
        "backups/b1/segments/00000001",
        "backups/b10/manifest",
    ]
    assert store.list("") == sorted([*keys, "other/thing", "backups/b10/manifest"])


def test_list_empty(store: ObjectStore) -> None:
    assert store.list("backups/") == []
    assert store.list("") == []


def test_modified_tells_when_an_object_was_written(store: ObjectStore) -> None:
    before = time.time()
    store.put("aged/k", b"v")
    written = store.modified("aged/k")
    # Clocks of a store may be coarse (S3: whole seconds): allow a second either way.
    assert before - 1 <= written <= time.time() + 1
    with pytest.raises(ObjectNotFound):
        store.modified("aged/missing")


def test_delete_is_idempotent(store: ObjectStore) -> None:
    store.delete("never/existed")
    store.put("k", b"v")
    store.delete("k")
    store.delete("k")
    with pytest.raises(ObjectNotFound):
        store.get("k")
    assert store.list("") == []


@pytest.mark.parametrize("key", BAD_KEYS)
def test_invalid_keys_are_rejected(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        store.put(key, b"x")
    with pytest.raises(InvalidKey):
        store.get(key)
    with pytest.raises(InvalidKey):
        store.get_range(key, 0, 1)
    with pytest.raises(InvalidKey):
        store.exists(key)
    with pytest.raises(InvalidKey):
        store.delete(key)


def test_invalid_prefix_is_rejected(store: ObjectStore) -> None:
    with pytest.raises(InvalidKey):
        store.list("../")


# -- error translation ------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_s3_connection_refused_is_transient() -> None:
    options = {
        "endpoint_url": f"http://127.0.0.1:{_closed_port()}",
        "key": "testing",
        "secret": "super-secret-value",
        "client_kwargs": {"region_name": "us-east-1"},
        "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 1},
    }
    store = open_store(f"s3://bucket-{uuid.uuid4().hex[:8]}/p", options)
    with pytest.raises(TransientStorageError) as info:
        store.put("k", b"v")
    assert "super-secret-value" not in str(info.value)
    assert isinstance(info.value.__cause__, Exception)


@pytest.mark.s3
def test_s3_missing_bucket_is_permanent(s3_options: dict[str, Any]) -> None:
    store = open_store(f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/p", s3_options)
    with pytest.raises(PermanentStorageError) as info:
        store.put("k", b"v")
    assert not isinstance(info.value, ObjectNotFound)


def test_file_store_in_read_only_dir_is_permanent(tmp_path: Path) -> None:
    root = tmp_path / "ro"
    root.mkdir()
    # root ignores mode bits; the immutable attribute stops it too (where chattr works).
    root.chmod(0o555)
    as_root = os.geteuid() == 0
    if as_root and _chattr("+i", root) != 0:
        pytest.skip("running as root and chattr +i is unavailable")
    try:
        with pytest.raises(PermanentStorageError) as info:
            open_store(f"file://{root}").put("k", b"v")
        assert not isinstance(info.value, ObjectNotFound)
    finally:
        if as_root:
            _chattr("-i", root)
        root.chmod(0o755)


def _chattr(flag: str, path: Path) -> int:
    chattr = shutil.which("chattr")
    if chattr is None:
        return 1
    return subprocess.run([chattr, flag, str(path)], capture_output=True, check=False).returncode


def test_file_store_under_a_regular_file_is_permanent(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"not a directory")
    store = open_store(f"file://{blocker}/store")
    with pytest.raises(PermanentStorageError) as info:
        store.put("k", b"v")
    assert not isinstance(info.value, ObjectNotFound)


def test_file_put_leaves_no_temp_files(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}")
    store.put("a/b", b"1")
    store.put("a/b", b"2")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b"]


def test_file_delete_prunes_empty_directories(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path / 'root'}")
    store.put("backups/b1/segments/00000000", b"1")
    store.delete("backups/b1/segments/00000000")
    assert list((tmp_path / "root").iterdir()) == []
    store.put("backups/b1/segments/00000000", b"again")
    assert store.get("backups/b1/segments/00000000") == b"again"


def _client_error(code: str, status: int) -> botocore.exceptions.ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": code},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return botocore.exceptions.ClientError(response, "PutObject")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_client_error("NoSuchKey", 404), ObjectNotFound),
        (_client_error("NoSuchBucket", 404), PermanentStorageError),
        (_client_error("AccessDenied", 403), PermanentStorageError),
        (_client_error("InvalidArgument", 400), PermanentStorageError),
        (_client_error("SlowDown", 503), TransientStorageError),
        (_client_error("InternalError", 500), TransientStorageError),
        (_client_error("RequestTimeout", 400), TransientStorageError),
        (_client_error("Weird", 502), TransientStorageError),
        (
            botocore.exceptions.EndpointConnectionError(endpoint_url="http://x"),
            TransientStorageError,
        ),
        (botocore.exceptions.ReadTimeoutError(endpoint_url="http://x"), TransientStorageError),
        (botocore.exceptions.NoCredentialsError(), PermanentStorageError),
        (aiohttp.ClientConnectionError("reset"), TransientStorageError),
        (ConnectionResetError(), TransientStorageError),
        (TimeoutError(), TransientStorageError),
        (FileNotFoundError(), ObjectNotFound),
        (PermissionError(), PermanentStorageError),
        (OSError(errno.ENOSPC, "full"), PermanentStorageError),
        (OSError(errno.EROFS, "read-only"), PermanentStorageError),
        (OSError(errno.EIO, "io"), TransientStorageError),
        (OSError(errno.EBUSY, "busy"), TransientStorageError),
        (ValueError("bad bucket"), PermanentStorageError),
        (TypeError("bug"), None),
    ],
)
def test_classify(exc: BaseException, expected: type[Exception] | None) -> None:
    assert classify(exc) is expected


def test_s3fs_wrapped_client_error_uses_the_s3_code() -> None:
    wrapped = FileNotFoundError("The specified bucket does not exist")
    wrapped.__cause__ = _client_error("NoSuchBucket", 404)
    assert classify(wrapped) is PermanentStorageError


# -- opening from settings --------------------------------------------------------------


def test_open_store_from_settings_wraps_only_when_fault_file_exists(tmp_path: Path) -> None:
    fault_file = tmp_path / "faults.json"
    settings = Settings(backup_url=f"memory://settings-{uuid.uuid4().hex}", fault_file=fault_file)
    assert not isinstance(open_store_from_settings(settings), FaultyObjectStore)
    fault_file.write_text('{"put": {"transient": 1}}')
    store = open_store_from_settings(settings)
    assert isinstance(store, FaultyObjectStore)
    with pytest.raises(TransientStorageError):
        store.put("k", b"v")
    store.put("k", b"v")
    assert store.get("k") == b"v"


def test_open_store_from_settings_default_is_file_under_data_dir(tmp_path: Path) -> None:
    store = open_store_from_settings(Settings(data_dir=tmp_path))
    store.put("backups/b1/manifest", b"m")
    assert (tmp_path / "backups" / "backups" / "b1" / "manifest").read_bytes() == b"m"
