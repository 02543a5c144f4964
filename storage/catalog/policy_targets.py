"""What a policy can back up, declared once per resource kind.

A `TargetKind` says which resources a policy's targets select, how a policy backup of
one starts (its row, held source), what retention sees of a resource's backups, and how
an expired backup's delete starts. The policy-run and retention flows are written
against this table only, so a new resource kind is one more declaration here (and its
flow names in flows/policy_kinds.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from sqlmodel import Session, SQLModel, col, select

from storage.catalog import db_backups, share_backups
from storage.catalog.backups import begin_backup
from storage.catalog.cascade import begin_cascade_delete
from storage.catalog.db_models import DbBackup, DbBackupStatus, DbInstance, InstanceStatus
from storage.catalog.models import Backup, BackupStatus, Volume, VolumeStatus
from storage.catalog.policies import retention_rules
from storage.catalog.policy_models import Policy
from storage.catalog.share_models import Share, ShareBackup, ShareBackupStatus, ShareStatus
from storage.retention import BackupPoint, Decision, Plan, plan

# The metadata key naming the policy in a Cinder backup's metadata.
POLICY_KEY: Final = "safehold:policy_id"


@dataclass(frozen=True)
class Started:
    """A catalog transition a run must now drive: the row whose id, op_token and
    flow_run_id the run takes, its flow parameters, and every row the run drives."""

    record: Any
    parameters: dict[str, Any]
    rows: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class TargetKind:
    """One resource kind as policies see it."""

    name: str  # "volume" | "share" | "instance", as in the policy's targets.kind
    resource: type[SQLModel]
    backup: type[SQLModel]
    owner: str  # the backup column naming its resource
    ready: frozenset[str]  # resource statuses a backup may start from
    good: frozenset[str]  # backup statuses retention counts as good
    busy: frozenset[str]  # backup statuses an operation is still working on
    has_metadata: bool
    # (session, policy, resource, full, name) -> the new backup row.
    begin: Callable[[Session, Policy, Any, bool, str], Any]
    # (session, backup row) -> the delete to run, for one expired backup.
    expire: Callable[[Session, Any], Started]
    # True: deleting a backup deletes its descendants (retention deletes subtree roots);
    # False: each backup is deleted on its own (retention deletes every expired one).
    cascades: bool = True

    def targets(self, session: Session, policy: Policy) -> list[Any]:
        """The policy's resources of this kind, oldest first (missing ones are absent)."""
        model: Any = self.resource
        stmt = select(model).where(model.project_id == policy.project_id)
        if policy.target_id is not None:
            stmt = stmt.where(model.id == policy.target_id)
        rows = list(session.exec(stmt.order_by(col(model.created_at), col(model.id))))
        wanted = policy.target_metadata or {}
        return [r for r in rows if not wanted or _holds(getattr(r, "meta", {}), wanted)]

    def backups_of(self, session: Session, resource_id: str) -> list[Any]:
        """Every backup row of one resource."""
        model: Any = self.backup
        return list(session.exec(select(model).where(getattr(model, self.owner) == resource_id)))

    def points(self, session: Session, resource_id: str, policy_id: str) -> list[BackupPoint]:
        """What retention sees of one resource's backups."""
        return [
            BackupPoint(
                id=row.id,
                parent_id=row.parent_id,
                created_at=_aware(row.created_at),
                good=row.status in self.good,
                by_policy=row.policy_id == policy_id,
                busy=row.status in self.busy,
            )
            for row in self.backups_of(session, resource_id)
        ]

    def chain_of(self, session: Session, resource_id: str) -> list[Any]:
        """The newest good backup's chain, newest first (empty: none is good)."""
        rows = {row.id: row for row in self.backups_of(session, resource_id)}
        good = [row for row in rows.values() if row.status in self.good]
        if not good:
            return []
        chain = [max(good, key=lambda row: (_aware(row.created_at), row.id))]
        while chain[-1].parent_id in rows:
            chain.append(rows[chain[-1].parent_id])
        return chain


def _holds(meta: Mapping[str, Any] | None, wanted: Mapping[str, str]) -> bool:
    return all(str((meta or {}).get(key)) == value for key, value in wanted.items())


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _description(policy: Policy) -> str:
    return f"made by policy {policy.name} ({policy.id})"[:255]


def _begin_volume(session: Session, policy: Policy, volume: Volume, full: bool, name: str) -> Any:
    return begin_backup(
        session=session,
        project_id=policy.project_id,
        user_id=policy.user_id,
        volume_id=volume.id,
        name=name,
        description=_description(policy),
        metadata={POLICY_KEY: policy.id},
        force=True,  # an in-use volume is backed up from a temporary point-in-time copy
        incremental=not full,
        policy_id=policy.id,
    )


def _expire_volume_backup(session: Session, backup: Backup) -> Started:
    members = begin_cascade_delete(session=session, backup_id=backup.id, project_id=None)
    ids = [member.id for member in members]
    return Started(members[-1], {"backup_id": members[-1].id, "backup_ids": ids}, members)


def _begin_share(session: Session, policy: Policy, share: Share, full: bool, name: str) -> Any:
    return share_backups.begin_share_backup(
        session=session,
        project_id=policy.project_id,
        user_id=policy.user_id,
        share_id=share.id,
        name=name,
        description=_description(policy),
        options={share_backups.FULL_OPTION: "true"} if full else {},
        policy_id=policy.id,
    )


def _expire_share_backup(session: Session, backup: ShareBackup) -> Started:
    row = share_backups.begin_share_backup_delete(
        session=session, backup_id=backup.id, project_id=None
    )
    return Started(row, {"backup_id": row.id}, [row])


def _begin_instance(
    session: Session, policy: Policy, instance: DbInstance, full: bool, name: str
) -> Any:
    return db_backups.begin_db_backup(
        session=session,
        project_id=policy.project_id,
        user_id=policy.user_id,
        instance=instance,
        name=name,
        description=_description(policy),
        parent_id=None,
        incremental=not full,
        policy_id=policy.id,
    )


def _expire_db_backup(session: Session, backup: DbBackup) -> Started:
    rows = db_backups.begin_db_backup_delete(session=session, backup_id=backup.id, project_id=None)
    return Started(rows[-1], {"backup_id": rows[-1].id}, rows)


TARGET_KINDS: Final[Mapping[str, TargetKind]] = {
    kind.name: kind
    for kind in (
        TargetKind(
            "volume",
            Volume,
            Backup,
            "volume_id",
            frozenset({VolumeStatus.AVAILABLE, VolumeStatus.IN_USE}),
            frozenset({BackupStatus.AVAILABLE}),
            frozenset({BackupStatus.CREATING, BackupStatus.RESTORING, BackupStatus.DELETING}),
            True,
            _begin_volume,
            _expire_volume_backup,
        ),
        TargetKind(
            "share",
            Share,
            ShareBackup,
            "share_id",
            frozenset({ShareStatus.AVAILABLE}),
            frozenset({ShareBackupStatus.AVAILABLE}),
            frozenset(
                {
                    ShareBackupStatus.CREATING,
                    ShareBackupStatus.RESTORING,
                    ShareBackupStatus.DELETING,
                }
            ),
            True,
            _begin_share,
            _expire_share_backup,
            cascades=False,
        ),
        TargetKind(
            "instance",
            DbInstance,
            DbBackup,
            "instance_id",
            frozenset({InstanceStatus.ACTIVE}),
            db_backups.RESTORABLE,
            frozenset(
                {
                    DbBackupStatus.NEW,
                    DbBackupStatus.BUILDING,
                    DbBackupStatus.SAVING,
                    DbBackupStatus.DELETING,
                }
            ),
            False,
            _begin_instance,
            _expire_db_backup,
        ),
    )
}


def full_reason(policy: Policy, chain: list[Any], now: datetime) -> str | None:
    """Why the next policy backup of a resource is full (None: incremental), given its
    newest good chain (newest first): no good backup yet, a chain holding a backup the
    policy did not make, full_every_runs backups in the chain already, or its full older
    than full_every_days."""
    if not chain:
        return "no good backup to chain onto"
    foreign = next((row.id for row in chain if row.policy_id != policy.id), None)
    if foreign is not None:
        # Retention keeps a chain holding a foreign backup whole: chaining onto one
        # would make every later backup of this chain unexpirable.
        return f"the newest chain holds backup {foreign}, not made by this policy"
    if policy.full_every_runs is not None and len(chain) >= policy.full_every_runs:
        return f"the chain has {len(chain)} backups (full every {policy.full_every_runs} runs)"
    if policy.full_every_days is not None:
        age = now - _aware(chain[-1].created_at)
        if age.total_seconds() >= policy.full_every_days * 86400:
            return f"the full is {age.days} days old (full every {policy.full_every_days} days)"
    return None


@dataclass(frozen=True)
class TargetPlan:
    """Retention's decisions for one resource's backups."""

    kind: TargetKind
    resource_id: str
    plan: Plan
    created: Mapping[str, datetime]

    def verdicts(self) -> Iterator[tuple[str, Decision, datetime]]:
        """("kept" | "expired", decision, created_at) of every backup, kept ones first."""
        for verdict, decisions in (("kept", self.plan.kept), ("expired", self.plan.expired)):
            for decision in decisions:
                yield verdict, decision, self.created[decision.backup_id]

    def to_delete(self) -> list[str]:
        """The expired backups whose delete removes exactly the expired set."""
        if self.kind.cascades:
            return list(self.plan.roots_to_delete)
        return [decision.backup_id for decision in self.plan.expired]


def retention_plans(*, session: Session, policy: Policy, now: datetime) -> list[TargetPlan]:
    """Retention's plan for every resource the policy has backups of (none without
    retention rules). ValueError for stored rules retention refuses."""
    rules = retention_rules(policy.retention)
    if rules is None:
        return []
    kind = TARGET_KINDS[policy.target_kind]
    model: Any = kind.backup
    owners = session.exec(
        select(getattr(model, kind.owner)).where(model.policy_id == policy.id).distinct()
    )
    plans = []
    for resource_id in sorted(str(owner) for owner in owners if owner is not None):
        points = kind.points(session, resource_id, policy.id)
        created = {point.id: point.created_at for point in points}
        plans.append(TargetPlan(kind, resource_id, plan(points, rules, now), created))
    return plans
