"""Keyword-only catalog functions for shares; each takes a session and commits once.

Shares follow the transition table in lifecycle.py (SHARE_TRANSITIONS); the `begin_*`
functions are the API's guard-and-transition steps, `finish_*`/`fail_share` the flows'.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from storage.catalog import lifecycle
from storage.catalog.cas import compare_and_set, require
from storage.catalog.ownership import owner_where, owns, require_owned
from storage.catalog.paging import list_page
from storage.catalog.rows import get_owned, save_edit
from storage.catalog.share_models import Share, ShareStatus
from storage.errors import InvalidRequest, InvalidStatus, ResourceBusy

SH = ShareStatus
SORT_KEYS = {
    "id": "id",
    "status": "status",
    "size": "size",
    "name": "name",
    "display_name": "name",
    "share_proto": "share_proto",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "availability_zone": "availability_zone",
    "project_id": "project_id",
}
GOING = frozenset({SH.DELETING, SH.UNMANAGE_STARTING})
BUSY = frozenset({SH.BACKUP_CREATING, SH.BACKUP_RESTORING})
FILTER_KEYS = frozenset({"name", "status", "share_proto", "availability_zone", "project_id"})


def create_share(
    *,
    session: Session,
    project_id: str,
    user_id: str,
    size_gb: int,
    share_proto: str,
    shares_dir: Path | None = None,
    path: str | None = None,
    name: str | None = None,
    description: str | None = None,
    metadata: Mapping[str, str] | None = None,
    availability_zone: str | None = None,
    share_type: str | None = None,
    is_public: bool = False,
) -> Share:
    """Insert a share row: creating under shares_dir/<id>, or manage_starting at ``path``."""
    share_id = str(uuid.uuid4())
    managed = path is not None
    if path is None:
        if shares_dir is None:
            raise ValueError("create_share needs path or shares_dir")
        path = str(shares_dir / share_id)
    share = Share(
        id=share_id,
        project_id=project_id,
        user_id=user_id,
        size=size_gb,
        share_proto=share_proto.upper(),
        name=name,
        description=description,
        meta=dict(metadata or {}),
        availability_zone=availability_zone or "nova",
        share_type=share_type,
        is_public=is_public,
        path=path,
        managed=managed,
        status=SH.MANAGE_STARTING if managed else SH.CREATING,
        op_token=str(uuid.uuid4()),
    )
    session.add(share)
    session.commit()
    session.refresh(share)
    return share


def get_share(*, session: Session, share_id: str, project_id: str | None = None) -> Share:
    """Return the share; RecordNotFound if missing or owned by another project."""
    return get_owned(session, Share, share_id, project_id)


def list_shares(
    *,
    session: Session,
    project_id: str | None,
    filters: Mapping[str, str] | None = None,
    sort: Sequence[tuple[str, str]] = (("created_at", "desc"),),
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[Share], int]:
    """One page of shares and the total count; InvalidRequest on bad keys."""
    return list_page(
        session,
        Share,
        project_id=project_id,
        clauses=[_filter(key, value) for key, value in (filters or {}).items()],
        sort_keys=SORT_KEYS,
        sort=sort,
        limit=limit,
        offset=offset,
    )


def _filter(key: str, value: str) -> Any:
    if key.endswith("~") and key[:-1] in ("name", "description"):
        return col(getattr(Share, key[:-1])).icontains(value, autoescape=True)
    if key not in FILTER_KEYS:
        raise InvalidRequest(f"Invalid filter key: {key}")
    return col(getattr(Share, key)) == value


def update_share(
    *,
    session: Session,
    share_id: str,
    project_id: str | None,
    changes: Mapping[str, Any],
) -> Share:
    """Apply name/description/is_public/metadata edits; RecordNotFound for others' shares."""
    share = get_share(session=session, share_id=share_id, project_id=project_id)
    for key in ("name", "description", "is_public"):
        if key in changes:
            setattr(share, key, changes[key])
    if "metadata" in changes:
        share.meta = dict(changes["metadata"])
    return save_edit(session, share)


def begin_share_delete(
    *, session: Session, share_id: str, project_id: str | None, unmanage: bool = False
) -> Share:
    """Move a share to deleting (or unmanage_starting); ResourceBusy while a backup or
    restore holds it, InvalidStatus from other statuses."""
    share = get_share(session=session, share_id=share_id, project_id=project_id)
    refuse_busy(share)
    target = SH.UNMANAGE_STARTING if unmanage else SH.DELETING
    changed = compare_and_set(
        session,
        Share,
        share_id,
        to=target,
        expected=lifecycle.entering(lifecycle.SHARE_TRANSITIONS, target),
        op_token=str(uuid.uuid4()),
        flow_run_id=None,  # a new operation: no earlier run may settle it
        fail_reason=None,
    )
    verb = "unmanage" if unmanage else "delete"
    require(
        changed,
        f"Invalid share: Share status must be one of ('available', 'error', "
        f"'backup_restoring_error'...) to {verb} it, but it is {share.status}.",
    )
    session.commit()
    session.refresh(share)
    return share


def refuse_busy(share: Share) -> None:
    """ResourceBusy (Manila's 409) while a backup or restore holds the share."""
    if share.status in BUSY:
        raise ResourceBusy(
            f"Share {share.id} is busy with a backup or restore ({share.status}); retry later."
        )


def set_share_status(
    *,
    session: Session,
    share_id: str,
    to: str,
    expected: Collection[str],
    run_ids: Collection[str] = (),
    **values: Any,
) -> bool:
    """Compare-and-set a share's status and commit; False if it was elsewhere (or, with
    ``run_ids``, driven by another run)."""
    changed = compare_and_set(
        session,
        Share,
        share_id,
        to=to,
        expected=expected,
        where=owner_where(Share, run_ids),
        **values,
    )
    session.commit()
    return changed


def hold_share(*, session: Session, share: Share, to: str, refused: str) -> None:
    """Compare-and-set the share from available to ``to`` (no commit); InvalidStatus else."""
    changed = compare_and_set(
        session,
        Share,
        share.id,
        to=to,
        expected=lifecycle.entering(lifecycle.SHARE_TRANSITIONS, to),
        fail_reason=None,
    )
    require(changed, refused)


def finish_share_setup(*, session: Session, share_id: str, run_ids: Collection[str] = ()) -> bool:
    """creating/manage_starting -> available; idempotent."""
    return set_share_status(
        session=session,
        share_id=share_id,
        to=SH.AVAILABLE,
        expected={SH.CREATING, SH.MANAGE_STARTING},
        run_ids=run_ids,
        fail_reason=None,
    )


def fail_share(
    *, session: Session, share_id: str, reason: str, run_ids: Collection[str] = ()
) -> bool:
    """Move a share in a transitional status to its failure status; else no-op (also
    when, with ``run_ids``, another run drives it now)."""
    share = session.get(Share, share_id)
    if share is None or share.status not in lifecycle.SHARE_TRANSITIONAL:
        return False
    if run_ids and not owns(share, lifecycle.SHARE_TRANSITIONAL, run_ids):
        return False
    return set_share_status(
        session=session,
        share_id=share_id,
        to=lifecycle.share_failure_status(share.status),
        expected={share.status},
        fail_reason=reason,
    )


def delete_share_row(*, session: Session, share_id: str, run_ids: Collection[str] = ()) -> None:
    """Remove a deleted or unmanaged share's row; idempotent; LostOwnership (with
    ``run_ids``) unless the row is deleting/unmanage_starting by one of those runs."""
    if session.get(Share, share_id) is None:
        return
    if run_ids:
        require_owned(
            session=session, model=Share, record_id=share_id, statuses=GOING, run_ids=run_ids
        )
    share = session.get(Share, share_id)
    if share is not None:
        session.delete(share)
        session.commit()


def reset_share_status(*, session: Session, share_id: str, status: str) -> Share:
    """Admin override: set any known share status, bypassing the transition table."""
    if status not in set(ShareStatus):
        raise InvalidStatus(f"Invalid share status: {status}.")
    share = get_share(session=session, share_id=share_id)
    share.status = status
    return save_edit(session, share)


def shares_overlapping(*, session: Session, path: Path) -> list[Share]:
    """Every share whose tree is ``path``, lies inside it, or contains it."""
    found = []
    for share in session.exec(select(Share)):
        tree = Path(share.path)
        if tree == path or tree.is_relative_to(path) or path.is_relative_to(tree):
            found.append(share)
    return found
