"""Cinder snapshot bodies: summary and detail, per microversion (FIELDS.md 5.1).

Snapshots carry no `links`. The extension attributes (progress, project) belong to
show and list-detail only; create and update answer with the detail minus them.
"""

from __future__ import annotations

from typing import Any

from api.views.common import ViewContext, isotime
from storage.catalog import Snapshot

PROGRESS = "os-extended-snapshot-attributes:progress"
PROJECT = "os-extended-snapshot-attributes:project_id"


def snapshot_summary(snapshot: Snapshot) -> dict[str, Any]:
    """The nine base fields: the plain list (at every microversion)."""
    return {
        "created_at": isotime(snapshot.created_at),
        "description": snapshot.description,
        "id": snapshot.id,
        "metadata": dict(snapshot.meta),
        "name": snapshot.name,
        "size": snapshot.size,
        "status": snapshot.status,
        "updated_at": isotime(snapshot.updated_at),
        "volume_id": snapshot.volume_id,
    }


def snapshot_detail(snapshot: Snapshot, view: ViewContext, *, extended: bool) -> dict[str, Any]:
    """Create/update body; `extended` adds the extension attributes (show, list detail)."""
    body = snapshot_summary(snapshot)
    if extended:
        body[PROGRESS] = snapshot.progress
        body[PROJECT] = snapshot.project_id
    mv = view.version
    if mv >= (3, 14):
        body["group_snapshot_id"] = snapshot.group_snapshot_id
    if mv >= (3, 41):
        body["user_id"] = snapshot.user_id
    if mv >= (3, 65):
        body["consumes_quota"] = snapshot.consumes_quota
    return body
