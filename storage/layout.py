"""Object-key layout of the backup store: the only place that builds keys.

    backups/<backup_id>/manifest                 the commit point, written last
    backups/<backup_id>/segments/<seq:08d>       data segments, seq = 0, 1, 2, ...

    shares/<share_id>/manifests/<backup_id>      a tree backup's manifest (commit point)
    shares/<share_id>/packs/<backup_id>-<seq:06d>  packs of chunks a tree backup wrote

Everything a block backup owns lives under ``backups/<backup_id>/``, so deleting a backup
is deleting that prefix. Tree backups (shares) share packs along their chain: a pack is
named after the backup that wrote it and is deleted with the last manifest of the share
that references it (docs/format.md, "Tree backups").

Keys are validated here ("no crap in, no crap out"): relative, lowercase, a fixed
alphabet, no empty or ``..`` segments. That keeps keys portable across file systems and S3
and makes path traversal impossible by construction.
"""

from __future__ import annotations

import re

from storage.errors import InvalidKey

MAX_KEY_LENGTH = 1024
# One path segment: starts with a letter or digit, so "." and ".." (and hidden temp files of
# the file:// backend) can never be keys.
_SEGMENT_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
# Backup ids are uuid-like; the restricted alphabet keeps them valid key segments.
_BACKUP_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
# Eight digits keep segment keys sorted lexically in seq order.
MAX_SEGMENT_SEQ = 99_999_999
# Six digits keep pack keys sorted lexically in seq order (16 MiB packs: 16 TiB per backup).
MAX_PACK_SEQ = 999_999

_BACKUPS = "backups"
_SHARES = "shares"
_TREE_MANIFESTS = "manifests"
_PACKS = "packs"
_PACK_NAME_RE = re.compile(r"([a-z0-9][a-z0-9-]{0,63})-([0-9]{6})")


def validate_key(key: str) -> str:
    """Return ``key`` unchanged if it obeys the layout rules; raises InvalidKey otherwise."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(f"invalid key length {len(key)}: {key[:64]!r}")
    for segment in key.split("/"):
        # fullmatch rejects "", ".", ".." and anything outside the alphabet.
        if segment == ".." or not _SEGMENT_RE.fullmatch(segment):
            raise InvalidKey(f"invalid key {key[:256]!r}: bad segment {segment[:130]!r}")
    return key


def validate_prefix(prefix: str) -> str:
    """Return a listing prefix ("" or key characters, may end in "/"); raises InvalidKey."""
    if prefix == "":
        return prefix
    head, slash, tail = prefix.rpartition("/")
    if slash:
        validate_key(head)  # everything before the last "/" must be a whole valid key
    if tail and not _SEGMENT_RE.fullmatch(tail):
        raise InvalidKey(f"invalid prefix {prefix[:256]!r}")
    return prefix


def validate_backup_id(backup_id: str) -> str:
    """Return ``backup_id`` if it is a lowercase uuid-like id; raises InvalidKey otherwise."""
    if not _BACKUP_ID_RE.fullmatch(backup_id):
        raise InvalidKey(f"invalid backup id {backup_id[:80]!r}")
    return backup_id


def backup_prefix(backup_id: str) -> str:
    """The prefix holding every object the backup owns: ``backups/<id>/``."""
    return f"{_BACKUPS}/{validate_backup_id(backup_id)}/"


def manifest_key(backup_id: str) -> str:
    """The key of the backup's manifest (its commit point)."""
    return backup_prefix(backup_id) + "manifest"


def segment_key(backup_id: str, seq: int) -> str:
    """The key of the backup's data segment number ``seq``; raises InvalidKey if out of range."""
    if not 0 <= seq <= MAX_SEGMENT_SEQ:
        raise InvalidKey(f"segment seq {seq} out of range for backup {backup_id[:80]!r}")
    return f"{backup_prefix(backup_id)}segments/{seq:08d}"


def manifest_keys_listing_prefix() -> str:
    """The prefix to list when rebuilding the catalog from storage (keep keys ending /manifest)."""
    return f"{_BACKUPS}/"


def is_manifest_key(key: str) -> bool:
    """True if ``key`` names a backup manifest (``backups/<id>/manifest``)."""
    parts = key.split("/")
    return (
        len(parts) == 3
        and parts[0] == _BACKUPS
        and parts[2] == "manifest"
        and _BACKUP_ID_RE.fullmatch(parts[1]) is not None
    )


def backup_id_of(key: str) -> str:
    """The id of the backup owning ``key``; raises InvalidKey for keys outside ``backups/``."""
    parts = validate_key(key).split("/")
    if len(parts) < 3 or parts[0] != _BACKUPS:
        raise InvalidKey(f"key {key[:256]!r} is not owned by a backup")
    return validate_backup_id(parts[1])


def validate_share_id(share_id: str) -> str:
    """Return ``share_id`` if it is a lowercase uuid-like id (as backup ids); raises InvalidKey."""
    if not _BACKUP_ID_RE.fullmatch(share_id):
        raise InvalidKey(f"invalid share id {share_id[:80]!r}")
    return share_id


def shares_listing_prefix() -> str:
    """The prefix to list when rebuilding the catalog of tree backups (``shares/``)."""
    return f"{_SHARES}/"


def share_prefix(share_id: str) -> str:
    """The prefix holding every tree-backup object of a share: ``shares/<share_id>/``."""
    return f"{_SHARES}/{validate_share_id(share_id)}/"


def tree_manifests_prefix(share_id: str) -> str:
    """The prefix listing the share's committed tree manifests: ``shares/<id>/manifests/``."""
    return share_prefix(share_id) + f"{_TREE_MANIFESTS}/"


def tree_manifest_key(share_id: str, backup_id: str) -> str:
    """The key of a tree backup's manifest (its commit point)."""
    return tree_manifests_prefix(share_id) + validate_backup_id(backup_id)


def packs_prefix(share_id: str) -> str:
    """The prefix listing every pack of the share: ``shares/<id>/packs/``."""
    return share_prefix(share_id) + f"{_PACKS}/"


def pack_name(backup_id: str, seq: int) -> str:
    """The last key segment of pack ``seq`` written by ``backup_id``: ``<id>-<seq:06d>``."""
    if not 0 <= seq <= MAX_PACK_SEQ:
        raise InvalidKey(f"pack seq {seq} out of range for backup {backup_id[:80]!r}")
    return f"{validate_backup_id(backup_id)}-{seq:06d}"


def pack_key(share_id: str, backup_id: str, seq: int) -> str:
    """The key of pack ``seq`` written by tree backup ``backup_id`` of ``share_id``."""
    return packs_prefix(share_id) + pack_name(backup_id, seq)


def parse_pack_name(name: str) -> tuple[str, int]:
    """(backup_id, seq) of a pack name ``<backup_id>-<seq:06d>``; raises InvalidKey."""
    match = _PACK_NAME_RE.fullmatch(name)
    if match is None:
        raise InvalidKey(f"invalid pack name {name[:130]!r}")
    return match.group(1), int(match.group(2))


def parse_pack_key(key: str) -> tuple[str, str, int]:
    """(share_id, backup_id, seq) of a pack key; raises InvalidKey for any other key."""
    parts = validate_key(key).split("/")
    if len(parts) != 4 or parts[0] != _SHARES or parts[2] != _PACKS:
        raise InvalidKey(f"key {key[:256]!r} is not a pack key")
    backup_id, seq = parse_pack_name(parts[3])
    return validate_share_id(parts[1]), backup_id, seq


def is_tree_manifest_key(key: str) -> bool:
    """True if ``key`` names a tree manifest (``shares/<share_id>/manifests/<backup_id>``)."""
    parts = key.split("/")
    return (
        len(parts) == 4
        and parts[0] == _SHARES
        and parts[2] == _TREE_MANIFESTS
        and _BACKUP_ID_RE.fullmatch(parts[1]) is not None
        and _BACKUP_ID_RE.fullmatch(parts[3]) is not None
    )


def parse_tree_manifest_key(key: str) -> tuple[str, str]:
    """(share_id, backup_id) of a tree manifest key; raises InvalidKey for any other key."""
    if not is_tree_manifest_key(key):
        raise InvalidKey(f"key {key[:256]!r} is not a tree manifest key")
    parts = key.split("/")
    return parts[1], parts[3]
