"""A view of an object store that moves the ``shares/`` key space under another top segment.

The tree format builds every key as ``shares/<owner_id>/...`` (storage/layout.py). Database
backups reuse that format unchanged through ``NamespacedStore(store, "databases")``: a
``shares/`` key becomes ``databases/`` on the way in and listed keys turn back on the way
out, so the tree code never learns where its objects really live.
"""

from __future__ import annotations

import re

from storage.errors import InvalidKey
from storage.layout import shares_listing_prefix, validate_prefix
from storage.objects import ObjectStore

_SHARES = shares_listing_prefix()  # "shares/"
_SPACE_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
# Top segments other key spaces own: mapping into them would mix foreign objects in.
_RESERVED = frozenset({"backups", "shares"})


def validate_space(space: str) -> str:
    """Return ``space`` if it is one lowercase key segment no other kind owns; InvalidKey."""
    if not _SPACE_RE.fullmatch(space) or space in _RESERVED:
        raise InvalidKey(f"invalid key space {space[:40]!r}")
    return space


class NamespacedStore:
    """An ObjectStore whose ``shares/...`` keys are stored as ``<space>/...`` in ``inner``.

    Every key must start with ``shares/`` (InvalidKey otherwise); the inner store validates
    the mapped key and keeps its guarantees (atomic put, idempotent delete, sorted list).
    """

    def __init__(self, inner: ObjectStore, space: str) -> None:
        self.inner = inner
        self.space = validate_space(space)
        self.url = inner.url
        self._root = space + "/"

    def __repr__(self) -> str:
        return f"NamespacedStore({self.inner!r}, {self.space!r})"

    def _map(self, key: str) -> str:
        """The inner key of view key ``key``; raises InvalidKey outside ``shares/``."""
        if not key.startswith(_SHARES):
            raise InvalidKey(f"key {key[:256]!r} is outside {_SHARES} in this view")
        return self._root + key[len(_SHARES) :]

    def _unmap(self, key: str) -> str:
        """The view key of inner key ``key`` (always under the space: list asked for it)."""
        return _SHARES + key[len(self._root) :]

    def put(self, key: str, data: bytes | bytearray) -> None:
        """Inner put of the mapped key (atomic, overwrites); raises InvalidKey, StorageError."""
        self.inner.put(self._map(key), data)

    def get(self, key: str) -> bytes:
        """Inner get of the mapped key; raises ObjectNotFound, InvalidKey."""
        return self.inner.get(self._map(key))

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """Inner get_range of the mapped key; raises ObjectNotFound, InvalidKey."""
        return self.inner.get_range(self._map(key), start, length)

    def exists(self, key: str) -> bool:
        """Inner exists of the mapped key; raises InvalidKey."""
        return self.inner.exists(self._map(key))

    def list(self, prefix: str) -> list[str]:
        """Sorted view keys starting with ``prefix``; [] if none; raises InvalidKey.

        A prefix of ``shares/`` itself ("", "sha", ...) lists the whole space; any other
        prefix outside ``shares/`` is refused like a key.
        """
        validate_prefix(prefix)
        if prefix.startswith(_SHARES):
            inner_prefix = self._map(prefix)
        elif _SHARES.startswith(prefix):
            inner_prefix = self._root
        else:
            raise InvalidKey(
                f"prefix {prefix[:256]!r} is outside {_SHARES} in the {self.space} view"
            )
        keys = self.inner.list(inner_prefix)
        # Mapping is a fixed-prefix swap, so the inner sort order is the view's sort order.
        return [self._unmap(key) for key in keys if key.startswith(self._root)]

    def modified(self, key: str) -> float:
        """Inner modified of the mapped key; raises ObjectNotFound, InvalidKey."""
        return self.inner.modified(self._map(key))

    def delete(self, key: str) -> None:
        """Inner delete of the mapped key (a missing key is fine); raises InvalidKey."""
        self.inner.delete(self._map(key))
