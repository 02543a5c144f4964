"""The object store: a tiny protocol and its one fsspec-backed implementation.

The URL picks the backend: ``file:///abs/dir``, ``s3://bucket/prefix`` (s3fs, any
S3-compatible endpoint via ``endpoint_url`` in the options) and ``memory://root`` (fsspec's
process-global memory file system; a unique root isolates tests). Foreign exceptions are
translated into ``storage.errors`` in exactly one place, :func:`translate_errors`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import stat
import tempfile
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol

import aiohttp
import botocore.exceptions
import botocore.parsers
import fsspec
from fsspec.exceptions import FSTimeoutError

from storage.durable import fsync_directory
from storage.errors import (
    ObjectNotFound,
    PermanentStorageError,
    StorageError,
    TransientStorageError,
)
from storage.faults import FaultyObjectStore, load_fault_plan
from storage.layout import validate_key, validate_prefix
from storage.settings import Settings

log = logging.getLogger(__name__)


class ObjectStore(Protocol):
    """A flat namespace of immutable-by-convention objects addressed by validated keys.

    Guarantees every implementation gives (the contract suite checks them):
    - ``put`` is atomic: readers see the old object or the whole new one, never a part; it
      overwrites, so repeating it is idempotent.
    - read-after-write: ``get``/``exists``/``list`` see a completed ``put`` at once.
    - ``get`` and ``get_range`` raise ObjectNotFound for a missing key; ``get_range`` returns
      the bytes ``[start, start + length)`` clipped at the object's end.
    - ``list`` returns sorted keys (relative to the store root) starting with ``prefix``,
      recursively; ``[]`` when there are none.
    - ``delete`` of a missing key succeeds (idempotent).
    - every key passes ``layout.validate_key`` (InvalidKey otherwise); every failure is a
      ``storage.errors.StorageError``, transient or permanent.
    """

    url: str

    def put(self, key: str, data: bytes | bytearray) -> None:
        """Store ``data`` under ``key`` atomically, replacing any previous object."""
        ...

    def get(self, key: str) -> bytes:
        """Return the whole object; raises ObjectNotFound."""
        ...

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """Return up to ``length`` bytes from ``start``; raises ObjectNotFound."""
        ...

    def exists(self, key: str) -> bool:
        """True if an object is stored under ``key``."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Sorted keys starting with ``prefix`` (recursive); [] if none."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing key is not an error (idempotent)."""
        ...

    def modified(self, key: str) -> float:
        """When the object was last written (POSIX seconds); raises ObjectNotFound."""
        ...


# S3 error codes worth retrying; any other 4xx code is permanent, any 5xx transient.
_TRANSIENT_S3_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequests",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "OperationAborted",
        "500",
        "502",
        "503",
        "504",
    }
)
_NOT_FOUND_S3_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
# Local/network errnos that describe a passing condition. Everything else carrying an errno
# (ENOSPC, EDQUOT, EROFS, EACCES, EINVAL, ENAMETOOLONG, ...) needs an operator: permanent.
_TRANSIENT_ERRNOS = frozenset(
    {
        errno.EIO,
        errno.EAGAIN,
        errno.EBUSY,
        errno.EINTR,
        errno.ETIMEDOUT,
        errno.ECONNRESET,
        errno.ECONNREFUSED,
        errno.ECONNABORTED,
        errno.ENETDOWN,
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
        errno.EPIPE,
        errno.ESTALE,
        getattr(errno, "EREMOTEIO", errno.EIO),
    }
)
_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    aiohttp.ClientError,
    FSTimeoutError,
    botocore.exceptions.ConnectionError,  # endpoint unreachable, connect timeouts
    botocore.exceptions.HTTPClientError,  # read timeouts, closed connections
    botocore.parsers.ResponseParserError,  # throttling responses with broken XML
    botocore.exceptions.IncompleteReadError,
)
_USERINFO_RE = re.compile(r"(//)[^/@\s]*@")


def _client_error(exc: BaseException) -> Any | None:
    """The botocore ClientError behind ``exc`` (s3fs wraps them in OSError), if any."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, botocore.exceptions.ClientError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _s3_code(exc: BaseException) -> str:
    """The S3 error code behind ``exc`` ("" if it did not come from an S3 response)."""
    response = getattr(_client_error(exc), "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def classify(exc: BaseException) -> type[StorageError] | None:
    """Map a foreign exception to a storage error class; None for programming errors."""
    client_error = _client_error(exc)
    if client_error is not None:
        response = getattr(client_error, "response", None) or {}
        code = _s3_code(client_error)
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _NOT_FOUND_S3_CODES:
            return ObjectNotFound
        if code in _TRANSIENT_S3_CODES or status >= 500 or status == 429:
            return TransientStorageError
        # NoSuchBucket, AccessDenied, InvalidArgument, 400, 403, ...: retrying will not help.
        return PermanentStorageError
    if isinstance(exc, _TRANSIENT_TYPES):
        return TransientStorageError
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return PermanentStorageError  # no credentials, bad parameters, bad config
    if isinstance(exc, FileNotFoundError):
        return ObjectNotFound
    if isinstance(exc, ConnectionError | TimeoutError):
        return TransientStorageError
    if isinstance(exc, PermissionError | FileExistsError | IsADirectoryError | NotADirectoryError):
        return PermanentStorageError
    if isinstance(exc, OSError):
        # An OSError without errno is an unexplained I/O hiccup: worth a bounded retry.
        if exc.errno is None or exc.errno in _TRANSIENT_ERRNOS:
            return TransientStorageError
        return PermanentStorageError
    if isinstance(exc, ValueError):
        return PermanentStorageError  # fsspec/s3fs argument validation (bad bucket name, ...)
    return None


def _redact(text: str) -> str:
    """``text`` with the user-info part of any URL in it (credentials) masked."""
    return _USERINFO_RE.sub(r"\1***@", text)


def _safe_text(exc: BaseException) -> str:
    """A short description of ``exc`` that cannot leak credentials embedded in URLs."""
    return _redact(f"{type(exc).__name__}: {exc}")[:300]


@contextlib.contextmanager
def translate_errors(op: str, key: str) -> Iterator[None]:
    """Translate foreign exceptions raised inside into ``storage.errors``; the one edge.

    FileNotFoundError / NoSuchKey / 404 -> ObjectNotFound. Permission, invalid argument,
    NoSuchBucket, other 4xx, ENOSPC/EDQUOT/EROFS and other errno-carrying OSErrors ->
    PermanentStorageError (an operator must act). Connection and timeout errors, aiohttp and
    botocore transport errors, throttling and 5xx, EIO/EAGAIN/EBUSY and OSErrors without
    errno -> TransientStorageError. Programming errors (TypeError, ...) pass through.
    """
    try:
        yield
    except StorageError:
        raise
    except Exception as exc:
        kind = classify(exc)
        if kind is None:
            raise
        raise kind(f"{op} {key!r} failed: {_safe_text(exc)}") from exc


class FsspecObjectStore:
    """ObjectStore over fsspec; file:// uses os calls directly for atomicity and speed."""

    def __init__(self, url: str, options: Mapping[str, Any] | None = None) -> None:
        self.url = url
        opts = dict(options or {})
        protocol = url.split("://", 1)[0] if "://" in url else "file"
        if protocol == "s3":
            # Another process may write the same bucket: never answer from a stale listing.
            opts.setdefault("use_listings_cache", False)
        with translate_errors("open", _redact(url)):
            fs, root = fsspec.core.url_to_fs(url, **opts)
        self._fs: Any = fs
        self._local = protocol in ("file", "local")
        self._root = os.path.abspath(root) if self._local else str(root).rstrip("/")

    def __repr__(self) -> str:
        return f"FsspecObjectStore({_redact(self.url)!r})"

    def _path(self, key: str) -> str:
        return f"{self._root}/{validate_key(key)}"

    def put(self, key: str, data: bytes | bytearray) -> None:
        """Store ``data`` atomically (temp file + fsync + rename, or one PUT); overwrites."""
        path = self._path(key)
        with translate_errors("put", key):
            if self._local:
                _atomic_write(path, data)
            else:
                self._fs.pipe_file(path, data)
        log.debug("put %s (%d bytes) in %s", key, len(data), self.url)

    def get(self, key: str) -> bytes:
        """Return the whole object; raises ObjectNotFound."""
        path = self._path(key)
        with translate_errors("get", key):
            if self._local:
                with _as_not_found(), open(path, "rb") as f:
                    return f.read()
            return bytes(self._fs.cat_file(path))

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """Return ``length`` bytes from ``start`` (clipped at the end); raises ObjectNotFound."""
        if start < 0 or length < 0:
            raise ValueError(f"invalid range start={start} length={length} for {key!r}")
        path = self._path(key)
        with translate_errors("get_range", key):
            if self._local:
                with _as_not_found(), open(path, "rb", buffering=0) as f:
                    return os.pread(f.fileno(), length, start)
            if length == 0:
                self._fs.info(path)  # S3 cannot express an empty range; still 404 if missing
                return b""
            try:
                return bytes(self._fs.cat_file(path, start=start, end=start + length))
            except OSError as exc:
                if _s3_code(exc) == "InvalidRange":
                    return b""  # start at or past the end of an existing object
                raise

    def exists(self, key: str) -> bool:
        """True if an object is stored under ``key`` (prefixes/directories do not count)."""
        path = self._path(key)
        with translate_errors("exists", key):
            try:
                if self._local:
                    return stat.S_ISREG(os.stat(path).st_mode)
                return bool(self._fs.info(path).get("type") == "file")
            except (FileNotFoundError, NotADirectoryError):
                return False

    def list(self, prefix: str) -> list[str]:
        """Sorted keys starting with ``prefix``, recursively; [] if none."""
        validate_prefix(prefix)
        directory = prefix.rpartition("/")[0]
        base = f"{self._root}/{directory}" if directory else self._root
        with translate_errors("list", prefix):
            found = self._fs.find(base or "/")
        strip = len(self._root) + 1
        keys = []
        for path in found:
            key = str(path)[strip:]
            # Skip in-flight temp files and anything else a key could never be.
            if key.startswith(prefix) and _is_valid_key(key):
                keys.append(key)
        return sorted(keys)

    def modified(self, key: str) -> float:
        """When the object was last written (POSIX seconds); raises ObjectNotFound."""
        path = self._path(key)
        with translate_errors("modified", key):
            if self._local:
                with _as_not_found():
                    return os.stat(path).st_mtime
            info = self._fs.info(path)
        # s3fs says LastModified, the memory filesystem created; both are datetimes.
        stamp = info.get("LastModified") or info.get("mtime") or info.get("created")
        if isinstance(stamp, datetime):
            return stamp.timestamp()
        if isinstance(stamp, int | float):
            return float(stamp)
        raise PermanentStorageError(f"{self.url} does not tell when {key} was written")

    def delete(self, key: str) -> None:
        """Remove the object; a missing key is not an error (idempotent)."""
        path = self._path(key)
        with translate_errors("delete", key):
            if self._local:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                _prune_empty_dirs(os.path.dirname(path), self._root)
            else:
                with contextlib.suppress(FileNotFoundError):
                    self._fs.rm_file(path)
        log.debug("deleted %s in %s", key, self.url)


def _is_valid_key(key: str) -> bool:
    try:
        validate_key(key)
    except StorageError:
        return False
    return True


@contextlib.contextmanager
def _as_not_found() -> Iterator[None]:
    """Treat a directory where an object was expected as a missing object (as S3 does)."""
    try:
        yield
    except IsADirectoryError as exc:
        raise FileNotFoundError(errno.ENOENT, "is a directory, not an object") from exc


def _atomic_write(path: str, data: bytes | bytearray) -> None:
    """Write via a hidden temp file in the same directory, fsync, then rename over ``path``."""
    directory = os.path.dirname(path)
    fd, tmp = _make_temp(directory)
    try:
        with open(fd, "wb", buffering=0) as f:
            view = memoryview(data)
            while view:  # one write for the whole object; loop only on short writes
                view = view[f.write(view) :]
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_directory(directory)


def _make_temp(directory: str) -> tuple[int, str]:
    """Create a hidden temp file (invalid as a key, so never listed) in ``directory``."""
    for _ in range(2):
        os.makedirs(directory, exist_ok=True)
        try:
            return tempfile.mkstemp(prefix=".tmp-", dir=directory)
        except FileNotFoundError:
            pass  # a concurrent delete pruned the fresh, empty directory: make it again
    os.makedirs(directory, exist_ok=True)
    return tempfile.mkstemp(prefix=".tmp-", dir=directory)


def _prune_empty_dirs(directory: str, root: str) -> None:
    """Remove now-empty directories up to (not including) the store root."""
    while directory.startswith(root + "/"):
        try:
            os.rmdir(directory)
        except OSError:
            return  # not empty (or already gone): stop
        directory = os.path.dirname(directory)


def open_store(url: str, options: Mapping[str, Any] | None = None) -> ObjectStore:
    """Open the object store named by ``url``; raises StorageError on bad URLs or options."""
    return FsspecObjectStore(url, options)


def open_store_from_settings(settings: Settings) -> ObjectStore:
    """Open the configured backup store, wrapped with injected faults if a fault file exists."""
    store: ObjectStore = open_store(settings.resolved_backup_url(), settings.storage_options())
    fault_file = settings.fault_file
    if fault_file is not None and fault_file.is_file():
        log.warning("injecting store faults from %s into %s", fault_file, store.url)
        store = FaultyObjectStore(store, load_fault_plan(fault_file))
    return store
