"""Key layout: validation rules and the key builders."""

from __future__ import annotations

import pytest

from storage import layout
from storage.errors import InvalidKey

BACKUP_ID = "0b5c3f0e-7d1a-4c8e-9f00-1234567890ab"


@pytest.mark.parametrize(
    "key", ["a", "backups/x/manifest", "a.b_c-d/0", "a" * 128, "/".join(["ab"] * 300)]
)
def test_valid_keys_are_returned(key: str) -> None:
    assert layout.validate_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/abs",
        "../x",
        "a/../b",
        "..",
        ".",
        "a//b",
        "a/",
        "A",
        "a/B",
        "a b",
        "-a",
        ".tmp-123",
        "a" * 129,
        "é",
        "a\\b",
        "/".join(["abc"] * 300),  # 1199 characters: over 1024
    ],
)
def test_invalid_keys_raise(key: str) -> None:
    with pytest.raises(InvalidKey):
        layout.validate_key(key)


def test_backup_keys() -> None:
    assert layout.backup_prefix(BACKUP_ID) == f"backups/{BACKUP_ID}/"
    assert layout.manifest_key(BACKUP_ID) == f"backups/{BACKUP_ID}/manifest"
    assert layout.segment_key(BACKUP_ID, 7) == f"backups/{BACKUP_ID}/segments/00000007"
    assert layout.manifest_keys_listing_prefix() == "backups/"


def test_segment_keys_sort_in_seq_order() -> None:
    keys = [layout.segment_key("b", seq) for seq in (0, 9, 10, 99, 100, 12345678)]
    assert sorted(keys) == keys


@pytest.mark.parametrize("backup_id", ["", "UPPER", "a/b", "..", "-lead", "a_b", "x" * 65])
def test_invalid_backup_ids_raise(backup_id: str) -> None:
    with pytest.raises(InvalidKey):
        layout.backup_prefix(backup_id)


@pytest.mark.parametrize("seq", [-1, layout.MAX_SEGMENT_SEQ + 1])
def test_segment_seq_out_of_range(seq: int) -> None:
    with pytest.raises(InvalidKey):
        layout.segment_key(BACKUP_ID, seq)


def test_manifest_key_helpers() -> None:
    key = layout.manifest_key(BACKUP_ID)
    assert layout.is_manifest_key(key)
    assert not layout.is_manifest_key(layout.segment_key(BACKUP_ID, 0))
    assert not layout.is_manifest_key("other/x/manifest")
    assert layout.backup_id_of(layout.segment_key(BACKUP_ID, 3)) == BACKUP_ID
    with pytest.raises(InvalidKey):
        layout.backup_id_of("other/thing")


@pytest.mark.parametrize("prefix", ["", "backups/", "backups/b1", "backups/b1/"])
def test_valid_prefixes(prefix: str) -> None:
    assert layout.validate_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["/", "../", "a//", "A/", "backups/.."])
def test_invalid_prefixes(prefix: str) -> None:
    with pytest.raises(InvalidKey):
        layout.validate_prefix(prefix)
