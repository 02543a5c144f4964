"""The flows behind each policy target kind (storage.catalog.policy_targets)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class KindFlows:
    """Which served flows back up a resource of a kind and delete one of its backups."""

    create: str
    delete: str


KIND_FLOWS: Final[Mapping[str, KindFlows]] = {
    "volume": KindFlows("create-backup", "delete-backup-tree"),
    "share": KindFlows("create-share-backup", "delete-share-backup"),
    "instance": KindFlows("create-db-backup", "delete-db-backup-tree"),
}
