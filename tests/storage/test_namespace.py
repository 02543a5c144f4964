"""NamespacedStore: ``shares/`` keys live under another top segment of the inner store."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from storage.errors import InvalidKey, ObjectNotFound
from storage.format.namespace import NamespacedStore
from storage.objects import ObjectStore, open_store

SPACE = "databases"


@pytest.fixture(params=["memory", "file"])
def inner(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    """A fresh, empty inner store of each local backend."""
    if request.param == "memory":
        return open_store(f"memory://namespace-{uuid.uuid4().hex}")
    return open_store(f"file://{tmp_path / 'store'}")


@pytest.fixture
def view(inner: ObjectStore) -> NamespacedStore:
    return NamespacedStore(inner, SPACE)


def test_put_stores_under_the_space_and_reads_back(
    view: NamespacedStore, inner: ObjectStore
) -> None:
    view.put("shares/i1/packs/b1-000000", b"pack bytes")
    assert inner.get("databases/i1/packs/b1-000000") == b"pack bytes"
    assert not inner.exists("shares/i1/packs/b1-000000")
    assert view.get("shares/i1/packs/b1-000000") == b"pack bytes"
    assert view.get_range("shares/i1/packs/b1-000000", 5, 100) == b"bytes"
    assert view.exists("shares/i1/packs/b1-000000")
    assert view.modified("shares/i1/packs/b1-000000") == inner.modified(
        "databases/i1/packs/b1-000000"
    )


def test_objects_of_the_inner_space_are_seen_through_the_view(
    view: NamespacedStore, inner: ObjectStore
) -> None:
    inner.put("databases/i1/manifests/b1", b"m")
    inner.put("shares/i1/manifests/b1", b"a share's, not ours")
    assert view.get("shares/i1/manifests/b1") == b"m"


def test_delete_is_mapped_and_idempotent(view: NamespacedStore, inner: ObjectStore) -> None:
    view.put("shares/i1/manifests/b1", b"m")
    view.delete("shares/i1/manifests/b1")
    view.delete("shares/i1/manifests/b1")
    assert not inner.exists("databases/i1/manifests/b1")
    assert not view.exists("shares/i1/manifests/b1")


def test_missing_objects_are_not_found(view: NamespacedStore) -> None:
    with pytest.raises(ObjectNotFound):
        view.get("shares/i1/manifests/nope")
    with pytest.raises(ObjectNotFound):
        view.get_range("shares/i1/manifests/nope", 0, 1)
    with pytest.raises(ObjectNotFound):
        view.modified("shares/i1/manifests/nope")
    assert not view.exists("shares/i1/manifests/nope")


def test_list_maps_keys_back_sorted_and_only_from_the_space(
    view: NamespacedStore, inner: ObjectStore
) -> None:
    for key in ("shares/i2/manifests/b1", "shares/i1/packs/b1-000001", "shares/i1/packs/b1-000000"):
        view.put(key, b"x")
    inner.put("shares/i1/manifests/foreign", b"a share backup")
    inner.put("databases2/i1/packs/b1-000000", b"a neighbouring space")
    inner.put("backups/b1/manifest", b"a block backup")
    every = ["shares/i1/packs/b1-000000", "shares/i1/packs/b1-000001", "shares/i2/manifests/b1"]
    assert view.list("shares/") == every
    assert view.list("") == every
    assert view.list("sha") == every
    assert view.list("shares/i1/") == every[:2]
    assert view.list("shares/i1/packs/b1-00000") == every[:2]
    assert view.list("shares/i3/") == []


@pytest.mark.parametrize("key", ["backups/b1/manifest", "databases/i1/x", "sharesx/a", "a"])
@pytest.mark.parametrize(
    "call",
    [
        lambda s, k: s.put(k, b""),
        lambda s, k: s.get(k),
        lambda s, k: s.get_range(k, 0, 1),
        lambda s, k: s.exists(k),
        lambda s, k: s.modified(k),
        lambda s, k: s.delete(k),
    ],
    ids=["put", "get", "get_range", "exists", "modified", "delete"],
)
def test_keys_outside_shares_are_refused(
    view: NamespacedStore,
    inner: ObjectStore,
    key: str,
    call: Callable[[NamespacedStore, str], object],
) -> None:
    inner.put("backups/b1/manifest", b"not reachable through the view")
    with pytest.raises(InvalidKey):
        call(view, key)
    assert inner.get("backups/b1/manifest") == b"not reachable through the view"


@pytest.mark.parametrize("prefix", ["backups/", "databases/", "x", "shares/A", "../"])
def test_prefixes_outside_shares_are_refused(view: NamespacedStore, prefix: str) -> None:
    with pytest.raises(InvalidKey):
        view.list(prefix)


def test_invalid_keys_under_shares_are_refused_by_the_inner_store(view: NamespacedStore) -> None:
    with pytest.raises(InvalidKey):
        view.put("shares/../backups/b1/manifest", b"")
    with pytest.raises(InvalidKey):
        view.put("shares/", b"")


@pytest.mark.parametrize(
    "space", ["", "a/b", "Databases", "..", ".x", "-x", "1x", "shares", "backups", "x" * 33]
)
def test_unsafe_spaces_are_refused(inner: ObjectStore, space: str) -> None:
    with pytest.raises(InvalidKey):
        NamespacedStore(inner, space)


def test_the_view_names_its_inner_store(view: NamespacedStore, inner: ObjectStore) -> None:
    assert view.url == inner.url
    assert view.space == SPACE
    assert "databases" in repr(view)
